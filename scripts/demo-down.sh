#!/usr/bin/env bash
# `make demo-down`: stops the operator and simulator that `make demo` started (by their recorded
# PIDs), deletes the demo namespace and the demo release's cluster-scoped objects, and removes
# target/demo. The CRDs stay (other users of the control plane may have objects of those kinds),
# and so does the control plane unless DEMO_CLUSTER_DOWN=1 is set (`make cluster-down` stops it).
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=demo-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/demo-common.sh"

# A failing command is named, as in demo.sh (command substitutions report through this shell).
on_error() {
  [[ "$BASHPID" == "$$" ]] || return 0
  say "make demo-down failed: \`$3\` exited with status $1 (scripts/demo-down.sh line $2)"
}
trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR

stop_recorded operator
stop_recorded ontap-sim

if [[ -f "$admin_kubeconfig" ]] && "$kubectl" --kubeconfig "$admin_kubeconfig" get --raw /readyz >/dev/null 2>&1; then
  export KUBECONFIG="$admin_kubeconfig"
  "$kubectl" delete namespace "$DEMO_NAMESPACE" --ignore-not-found --wait=true --timeout=120s
  # Only the demo release's own cluster-scoped objects, found by its instance label.
  "$kubectl" delete clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings \
    -l "app.kubernetes.io/instance=$release,app.kubernetes.io/name=ontap-ipsec-operator" --ignore-not-found
else
  say "the control plane is not running; nothing to delete there"
fi

rm -rf "$demo_dir"

if [[ "${DEMO_CLUSTER_DOWN:-0}" == 1 ]]; then
  bash "$repo_root/tests/k8s/cluster-down.sh"
fi
