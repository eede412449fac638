#!/usr/bin/env bash
# Stops the local control plane started by cluster-up.sh — exactly the recorded PIDs, in the order
# kube-controller-manager, kube-apiserver, etcd — and removes its state (logs are kept).
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# A failing command is named, as in cluster-up.sh.
on_error() {
  [[ "$BASHPID" == "$$" ]] || return 0
  say "cluster-down failed: \`$3\` exited with status $1 (tests/k8s/cluster-down.sh line $2)"
}
trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR

take_lock
if ! compgen -G "$pid_dir/*.pid" >/dev/null; then
  say "control plane not running"
fi
stop_all
say "control plane down (logs kept in $log_dir)"
