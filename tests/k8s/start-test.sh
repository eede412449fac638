#!/usr/bin/env bash
# Tests cluster-up.sh and cluster-down.sh on a loaded machine, where the PID of `setsid BINARY ... &`
# is still the forked shell for a while, and their failure messages. It runs a control plane of its
# own from a copy of tests/k8s under target/k8s-start-test/checkout (all state of a copy lives in
# the copy's own target/k8s), so the control plane of this checkout is never touched; run it with
# `bash tests/k8s/start-test.sh` (a warm run takes about half a minute).
#
# Every start goes through a `setsid` first on PATH that waits a second under a command line naming
# neither itself nor the binary. cluster-up used to take such a PID for an etcd that had exited,
# fail with an empty log, and leave etcd running once it exec'd.
#
# 1. cluster-up with slowed starts succeeds, prints the kubeconfig, and the API server is ready.
# 2. cluster-up again says "already up".
# 3. cluster-down stops every process of the copy.
# 4. A start whose PID exits before running etcd fails naming etcd, its exit status and the log,
#    and leaves nothing running.
# 5. An etcd that exits with an error fails naming etcd, its exit status and the end of its log (with
#    what was awaited, if it had been seen running), and leaves nothing running.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
test_dir="$repo_root/target/k8s-start-test"
copy="$test_dir/checkout"
copy_bin="$copy/target/k8s/bin"
out_dir="$test_dir/logs"

# A copy left by an earlier run may still run (the test was interrupted): stop it first.
if [[ -x "$copy/tests/k8s/cluster-down.sh" ]]; then
  bash "$copy/tests/k8s/cluster-down.sh" >/dev/null 2>&1 || true
fi
rm -rf "$test_dir"
mkdir -p "$copy/tests" "$out_dir" "$test_dir/path"
cp -R "$here" "$copy/tests/k8s"
rm -f "$copy/tests/k8s/start-test.sh"

# setsid as on a loaded machine. START_TEST_MODE=no-exec makes etcd's start exit 3 without running
# etcd; bad-flag gives etcd a flag value it rejects.
real_setsid="$(command -v setsid)"
cat >"$test_dir/path/setsid" <<SLOW
#!/usr/bin/env bash
case "\${START_TEST_MODE:-}:\$1" in
  no-exec:*/etcd) exec -a slow-exec bash -c 'sleep 1; exit 3' ;;
  bad-flag:*/etcd) set -- "\$@" --log-level=bogus ;;
esac
SLOW_EXEC_ARGS="\$(printf '%q ' "\$@")" exec -a slow-exec bash -c 'sleep 1; eval "exec $real_setsid \$SLOW_EXEC_ARGS"'
SLOW
chmod +x "$test_dir/path/setsid"

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

# run LOG SCRIPT [ENV...]: runs the copy's tests/k8s/SCRIPT with slowed starts and ENV; stdout to
# LOG.out, stderr to LOG.err, exit status to LOG.status.
run() {
  local log="$1" script="$2" status=0
  shift 2
  echo "\$ ${*:+$* }PATH=<slow setsid>:\$PATH bash tests/k8s/$script" >&2
  env PATH="$test_dir/path:$PATH" "$@" bash "$copy/tests/k8s/$script" \
    >"$out_dir/$log.out" 2>"$out_dir/$log.err" </dev/null || status=$?
  echo "$status" >"$out_dir/$log.status"
  echo "  exit status $status; output in ${out_dir#"$repo_root/"}/$log.{out,err}" >&2
}
status_of() { [[ "$(<"$out_dir/$1.status")" == "$2" ]]; }
failed() { [[ "$(<"$out_dir/$1.status")" != 0 ]]; }
said() { grep -qE -- "$2" "$out_dir/$1.err"; }
show() {
  echo "---- ${out_dir#"$repo_root/"}/$1.err ----"
  tail -n 60 "$out_dir/$1.err"
  echo "----"
}

# The copy's processes (not zombies): PID and command line, one a line.
copy_processes() {
  local dir pid argv0 stat
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    IFS= read -r -d '' argv0 2>/dev/null <"$dir/cmdline" || continue
    [[ "$argv0" == "$copy_bin/"* ]] || continue
    stat="$(cat "$dir/stat" 2>/dev/null)" || continue
    stat="${stat##*) }"
    [[ "${stat%% *}" != Z ]] || continue
    echo "$pid $argv0"
  done
}
# Nothing of the copy runs once slowed starts that never ran their binary have ended (1 s).
nothing_left() {
  sleep 1.5
  [[ -z "$(copy_processes)" ]]
}
all_recorded() {
  # shellcheck source-path=SCRIPTDIR source=common.sh
  (source "$copy/tests/k8s/common.sh" && for c in "${components[@]}"; do recorded_pid "$c" >/dev/null || exit 1; done)
}
apiserver_ready() {
  [[ "$("$copy_bin/kubectl" --kubeconfig "$copy/target/k8s/admin.kubeconfig" get --raw /readyz 2>/dev/null)" == ok ]]
}

# Whatever happens, the copy's control plane does not outlive the test.
finish() {
  local pid argv0
  bash "$copy/tests/k8s/cluster-down.sh" >"$out_dir/cleanup.log" 2>&1 || true
  while read -r pid argv0; do
    echo "stopping pid $pid: $argv0"
    kill -KILL "$pid" 2>/dev/null || true
  done < <(copy_processes)
}
trap finish EXIT

echo "== 1. cluster-up with process starts slowed down as on a loaded machine"
before=$failures
run up cluster-up.sh
check "cluster-up exits 0 although the started PIDs exec their binaries a second late" status_of up 0
check "it prints the copy's admin kubeconfig" test "$(<"$out_dir/up.out")" == "$copy/target/k8s/admin.kubeconfig"
check "etcd, kube-apiserver and kube-controller-manager run under their recorded PIDs" all_recorded
check "the API server answers /readyz with ok" apiserver_ready
((failures == before)) || show up

echo "== 2. cluster-up again"
before=$failures
run again cluster-up.sh
check "cluster-up exits 0" status_of again 0
check "it says the control plane is already up" said again '^control plane already up'
((failures == before)) || show again

echo "== 3. cluster-down"
before=$failures
run down cluster-down.sh
check "cluster-down exits 0" status_of down 0
check "no process of the copy is left running" nothing_left
((failures == before)) || show down

echo "== 4. a start whose PID exits before it runs etcd"
before=$failures
run no-exec cluster-up.sh START_TEST_MODE=no-exec
check "cluster-up exits non-zero" failed no-exec
check "it names etcd, the exit status and the binary" \
  said no-exec "^cluster-up failed: etcd \\(pid [0-9]+\\) exited with status 3 as it started $copy_bin/etcd$"
check "it shows etcd's log" said no-exec "etcd\.log is empty"
check "no process of the copy is left running" nothing_left
((failures == before)) || show no-exec

echo "== 5. an etcd that exits with an error"
before=$failures
run bad-flag cluster-up.sh START_TEST_MODE=bad-flag
check "cluster-up exits non-zero" failed bad-flag
check "it names etcd and the exit status" \
  said bad-flag "^cluster-up failed: etcd \\(pid [0-9]+\\) exited with status [1-9][0-9]* (as it started $copy_bin/etcd|before healthy /health)$"
check "it shows the end of etcd's log, with the error" said bad-flag 'bogus'
check "no process of the copy is left running" nothing_left
((failures == before)) || show bad-flag

if ((failures > 0)); then
  echo "cluster start test: $failures check(s) failed"
  exit 1
fi
echo "cluster start test: all checks passed"
