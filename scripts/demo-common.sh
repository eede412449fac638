# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
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

# binary_of NAME: the binary the demo runs as NAME.
binary_of() {
  case "$1" in
    operator) echo "$operator_bin" ;;
    ontap-sim) echo "$simulator_bin" ;;
    *) return 1 ;;
  esac
}

# is_running PID: the process exists and is not a zombie waiting for its parent to reap it.
is_running() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# recorded_pid NAME: the PID in $demo_dir/NAME.pid if that process still runs and is the demo's
# (it runs this checkout's binary: its argv[0] is the binary's path), so a reused PID is never
# signalled. Right after a start the PID can still be the forked shell that has not yet exec'd the
# binary; that is not the demo's process yet (demo.sh's start waits for the exec).
recorded_pid() {
  local file="$demo_dir/$1.pid" pid binary argv0
  binary="$(binary_of "$1")" || return 1
  [[ -f "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_running "$pid" || return 1
  IFS= read -r -d '' argv0 2>/dev/null <"/proc/$pid/cmdline" || return 1
  [[ "$argv0" == "$binary" ]] || return 1
  echo "$pid"
}

# log_tail FILE: the end of a log, framed, for failure messages.
log_tail() {
  local file="$1"
  if [[ -s "$file" ]]; then
    say "---- last lines of ${file#"$repo_root/"} ----"
    tail -n 30 "$file" >&2
    say "----"
  elif [[ -e "$file" ]]; then
    say "(${file#"$repo_root/"} is empty)"
  fi
}

# stop_recorded NAME: SIGTERM the recorded process, wait up to 15 s, then SIGKILL; forget it.
stop_recorded() {
  local name="$1" pid waited=0
  if pid="$(recorded_pid "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    while is_running "$pid" && ((waited < 150)); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if is_running "$pid"; then
      say "$name (pid $pid) did not stop after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$demo_dir/$name.pid"
}
