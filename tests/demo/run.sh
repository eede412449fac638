#!/usr/bin/env bash
# End-to-end test of the README's first command: `make demo`, then `make demo-down`, from this
# checkout, on the local control plane (started here if it is not up; left running, since other
# tests share it). The demo keeps to its own namespace and its own release's cluster-scoped
# objects, so tests running meanwhile are unaffected; a demo you started yourself is replaced and
# then stopped.
#
# 1. A demo that fails (an invalid namespace name) says what failed and leaves no process behind.
# 2. `make demo` succeeds and prints the OntapCluster row with all 48 SAs and the 48 mirrored SAs.
# 3. `make demo` again, with every process start slowed down as on a loaded machine: the PID that
#    `setsid ... &` returns keeps a command line without the binary for a second. It replaces the
#    first demo's processes and succeeds (the first `make demo` on a fresh machine used to exit 1
#    here without a word).
# 4. `make demo-down` stops every demo process and deletes the namespace and the demo release's
#    cluster-scoped objects; the CRDs and the control plane stay.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"
# shellcheck source-path=SCRIPTDIR source=../../scripts/demo-common.sh
source scripts/demo-common.sh

log_dir="$repo_root/target/demo-test"
rm -rf "$log_dir"
mkdir -p "$log_dir"

failures=0
check() { # check DESCRIPTION COMMAND...: runs COMMAND; records a failure with DESCRIPTION
  local description="$1"
  shift
  if "$@"; then
    echo "ok: $description"
  else
    echo "FAILED: $description"
    failures=$((failures + 1))
  fi
}

# run_make LOG TARGET [ENV...]: runs `make TARGET` with ENV, output to LOG.out (stdout) and
# LOG.err (stderr); its exit status in LOG.status.
run_make() {
  local log="$1" target="$2" status=0
  shift 2
  local shown="${*:+$* }"
  echo "\$ ${shown//"$PATH"/\$PATH}make $target" >&2
  env -u DEMO_CLUSTER_DOWN -u DEMO_NAMESPACE "$@" make --no-print-directory -C "$repo_root" "$target" \
    >"$log_dir/$log.out" 2>"$log_dir/$log.err" </dev/null || status=$?
  echo "$status" >"$log_dir/$log.status"
  echo "  exit status $status; output in ${log_dir#"$repo_root/"}/$log.{out,err}" >&2
}
status_of() { [[ "$(<"$log_dir/$1.status")" == "$2" ]]; }
failed() { [[ "$(<"$log_dir/$1.status")" != 0 ]]; }
show() { # show LOG: prints a run's output when a check on it failed
  echo "---- ${log_dir#"$repo_root/"}/$1.out ----"
  tail -n 60 "$log_dir/$1.out"
  echo "---- ${log_dir#"$repo_root/"}/$1.err ----"
  tail -n 60 "$log_dir/$1.err"
  echo "----"
}

# Only paths come from demo-common.sh; these checks do not lean on the scripts under test.
# alive PID: the process exists and is not a zombie.
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}
# runs_binary PID BINARY: PID is alive and BINARY is its argv[0].
runs_binary() {
  local argv0
  alive "$1" || return 1
  IFS= read -r -d '' argv0 2>/dev/null <"/proc/$1/cmdline" || return 1
  [[ "$argv0" == "$2" ]]
}
# demo_processes: PID and command line of every running process of this checkout's demo (the
# operator watching the demo namespace, the simulator writing its certificate to target/demo).
demo_processes() {
  local proc pid argv
  for proc in /proc/[0-9]*; do
    pid="${proc#/proc/}"
    alive "$pid" || continue
    argv="$(tr '\0' ' ' 2>/dev/null <"$proc/cmdline")" || continue
    case "$argv" in
      "$operator_bin run "*"--namespace ontap-demo "* | "$simulator_bin "*"$demo_dir/"*) echo "$pid $argv" ;;
    esac
  done
}
no_demo_processes() {
  local left
  left="$(demo_processes)"
  [[ -z "$left" ]] || { echo "still running:"; echo "$left"; return 1; }
}
recorded_pids() { # the PIDs in the demo's PID files that exist
  local name
  for name in operator ontap-sim; do
    [[ ! -f "$demo_dir/$name.pid" ]] || echo -n "$(<"$demo_dir/$name.pid") "
  done
}
none_running() { # none_running PID...: none of these runs the demo's binaries any more
  local pid
  for pid in "$@"; do
    if runs_binary "$pid" "$operator_bin" || runs_binary "$pid" "$simulator_bin"; then
      echo "pid $pid still runs"
      return 1
    fi
  done
}
both_recorded_and_running() {
  runs_binary "$(cat "$demo_dir/operator.pid" 2>/dev/null)" "$operator_bin" &&
    runs_binary "$(cat "$demo_dir/ontap-sim.pid" 2>/dev/null)" "$simulator_bin"
}
# The OntapCluster row: cluster1, Ready True, 48 SAs; and 48 mirrored objects listed.
prints_tables() {
  local out="$log_dir/$1.out"
  grep -Eq "^cluster1[[:space:]]+https://127\.0\.0\.1:[0-9]+[[:space:]]+True[[:space:]].*[[:space:]]48[[:space:]]" "$out" &&
    [[ "$(grep -Ec "^cluster1-[0-9a-f-]{36}[[:space:]]" "$out")" == 48 ]]
}
kubectl_admin() { "$kubectl" --kubeconfig "$admin_kubeconfig" "$@"; }
namespace_gone() { [[ -z "$(kubectl_admin get namespace ontap-demo --ignore-not-found -o name)" ]]; }
release_objects_gone() {
  [[ -z "$(kubectl_admin get clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings \
    -l "app.kubernetes.io/instance=$release,app.kubernetes.io/name=ontap-ipsec-operator" -o name)" ]]
}
crds_kept() {
  kubectl_admin get crd ontapclusters.ontap-ipsec.dev ipsecsecurityassociations.ontap-ipsec.dev -o name >/dev/null
}
control_plane_up() { [[ "$(kubectl_admin get --raw /readyz 2>/dev/null)" == ok ]]; }

# Whatever happens, no demo is left running: a test that stopped half way runs demo-down itself.
finish() {
  local status=$?
  if ((status != 0)) && [[ -n "$(demo_processes)" || -d "$demo_dir" ]]; then
    echo "cleaning up with make demo-down"
    make --no-print-directory -C "$repo_root" demo-down >"$log_dir/cleanup.log" 2>&1 </dev/null ||
      echo "make demo-down failed too; see ${log_dir#"$repo_root/"}/cleanup.log"
    # What demo-down does not know of (a process whose PID file is gone) is still this demo's.
    local pid argv
    while read -r pid argv; do
      echo "stopping pid $pid: $argv"
      kill -TERM "$pid" 2>/dev/null || true
    done < <(demo_processes)
  fi
}
trap finish EXIT

bash tests/k8s/cluster-up.sh >/dev/null

# A setsid that sleeps first, under a command line that names neither itself nor the binary: what
# the PID of `setsid BINARY ... &` shows while a loaded machine has not exec'd the binary yet.
real_setsid="$(command -v setsid)"
slow_bin="$log_dir/slow-exec-bin"
mkdir -p "$slow_bin"
cat >"$slow_bin/setsid" <<SLOW
#!/usr/bin/env bash
SLOW_EXEC_ARGS="\$(printf '%q ' "\$@")" exec -a slow-exec bash -c 'sleep 1; eval "exec $real_setsid \$SLOW_EXEC_ARGS"'
SLOW
chmod +x "$slow_bin/setsid"

echo "== 1. a failing demo says what failed and leaves nothing running"
run_make failing demo DEMO_NAMESPACE=Not_A_Namespace
check "make demo with an invalid namespace exits non-zero" failed failing
# shellcheck disable=SC2016 # the backquotes are the message's
check "it names the failing command" grep -q 'make demo failed: `.*kubectl.*` exited with status' "$log_dir/failing.err"
check "it stops the simulator it started" grep -q '^stopped ontap-sim' "$log_dir/failing.err"
check "no demo process is left running" no_demo_processes
((failures == 0)) || show failing

echo "== 2. make demo"
before=$failures
run_make demo demo
check "make demo exits 0" status_of demo 0
check "it prints cluster1 Ready with 48 SAs and the 48 mirrored SAs" prints_tables demo
check "the operator and the simulator run under their recorded PIDs" both_recorded_and_running
first_pids="$(recorded_pids)"
((failures == before)) || show demo

echo "== 3. make demo again, with process starts slowed down as on a loaded machine"
before=$failures
run_make again demo PATH="$slow_bin:$PATH"
check "make demo exits 0 although the started PIDs exec their binaries a second late" status_of again 0
check "it prints cluster1 Ready with 48 SAs and the 48 mirrored SAs" prints_tables again
check "the operator and the simulator run under their recorded PIDs" both_recorded_and_running
# shellcheck disable=SC2086 # a list of PIDs
check "the first demo's processes were replaced" none_running $first_pids
second_pids="$(recorded_pids)"
((failures == before)) || show again

echo "== 4. make demo-down"
before=$failures
run_make down demo-down
check "make demo-down exits 0" status_of down 0
# shellcheck disable=SC2086 # a list of PIDs
check "the demo's recorded processes stopped" none_running $second_pids
check "no demo process is left running" no_demo_processes
check "the ontap-demo namespace is deleted" namespace_gone
check "the demo release's cluster-scoped RBAC and policy objects are deleted" release_objects_gone
check "the CRDs stay" crds_kept
check "the control plane keeps running" control_plane_up
check "target/demo is removed" test ! -e "$demo_dir"
((failures == before)) || show down

if ((failures > 0)); then
  echo "demo test: $failures check(s) failed"
  exit 1
fi
echo "demo test: all checks passed"
