# Paths, names and process bookkeeping shared by demo.sh and demo-down.sh (sourced, not run).
# Everything the demo starts or writes lives under target/demo of this checkout.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
demo_dir="$repo_root/target/demo"
k8s_bin="$repo_root/target/k8s/bin"
kubectl="$k8s_bin/kubectl"
helm="$k8s_bin/helm"
# cargo builds into CARGO_TARGET_DIR when that is set.
cargo_debug_dir="${CARGO_TARGET_DIR:-$repo_root/target}/debug"
operator_bin="$cargo_debug_dir/ontap-ipsec-operator"
simulator_bin="$cargo_debug_dir/ontap-sim"
chart="$repo_root/charts/ontap-ipsec-operator"
admin_kubeconfig="$repo_root/target/k8s/admin.kubeconfig"

# The demo's namespace and Helm release; the release name equals the chart name, so every object
# (and the operator's ServiceAccount) is called ontap-ipsec-operator.
DEMO_NAMESPACE="${DEMO_NAMESPACE:-ontap-demo}"
release=ontap-ipsec-operator
service_account=ontap-ipsec-operator
cluster_name=cluster1

say() { echo "$*" >&2; }

# recorded_pid NAME: the PID in $demo_dir/NAME.pid if that process still runs and is the demo's
# (its command line names this checkout's binary), so a reused PID is never signalled.
recorded_pid() {
  local file="$demo_dir/$1.pid" pid
  [[ -f "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF -- "$cargo_debug_dir/" || return 1
  echo "$pid"
}

# stop_recorded NAME: SIGTERM the recorded process, wait up to 15 s, then SIGKILL; forget it.
stop_recorded() {
  local name="$1" pid waited=0
  if pid="$(recorded_pid "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    while [[ -e "/proc/$pid" ]] && ((waited < 150)); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if [[ -e "/proc/$pid" ]]; then
      say "$name (pid $pid) did not stop after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$demo_dir/$name.pid"
}
