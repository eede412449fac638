#!/usr/bin/env bash
# Stops the local control plane started by cluster-up.sh — exactly the recorded PIDs, in the order
# kube-controller-manager, kube-apiserver, etcd — and removes its state (logs are kept).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

take_lock
if ! compgen -G "$pid_dir/*.pid" >/dev/null; then
  say "control plane not running"
fi
stop_all
say "control plane down (logs kept in $log_dir)"
