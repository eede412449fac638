# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
# Paths and process bookkeeping shared by cluster-up.sh and cluster-down.sh (sourced, not run).
# All state lives under target/k8s of this checkout; the binaries are links into the build cache.

k8s_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$k8s_here/../.." && pwd)"
state_dir="$repo_root/target/k8s"
bin_dir="$state_dir/bin"
pid_dir="$state_dir/pids"
log_dir="$state_dir/logs"
pki_dir="$state_dir/pki"
etcd_data_dir="$state_dir/etcd"
kcm_cert_dir="$state_dir/kube-controller-manager"
ports_file="$state_dir/ports.env"
admin_kubeconfig="$state_dir/admin.kubeconfig"
kcm_kubeconfig="$state_dir/kube-controller-manager.kubeconfig"
lock_file="$state_dir/cluster.lock"

# Start order; cluster-down walks it backwards.
components=(etcd kube-apiserver kube-controller-manager)

say() { echo "$*" >&2; }

# Serialises cluster-up and cluster-down of this checkout (e.g. two `make test` at once).
take_lock() {
  mkdir -p "$state_dir"
  exec 9>"$lock_file"
  flock 9
}

# binary_of NAME: the binary a component runs, a link in this checkout's target/k8s/bin.
binary_of() { echo "$bin_dir/$1"; }

# recorded_pid NAME: the PID recorded for a component if that process still runs (not a zombie)
# and is ours: its argv[0] is exactly this checkout's binary for NAME, so a reused PID is never
# taken for it. Right after a start the PID can still be the forked shell that has not yet exec'd
# the binary; that is not the component yet (cluster-up.sh's start waits for the exec).
recorded_pid() {
  local file="$pid_dir/$1.pid" pid argv0
  [[ -f "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_running "$pid" || return 1
  IFS= read -r -d '' argv0 2>/dev/null <"/proc/$pid/cmdline" || return 1
  [[ "$argv0" == "$(binary_of "$1")" ]] || return 1
  echo "$pid"
}

# is_running PID: the process exists and is not a zombie waiting for its parent to reap it.
is_running() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# log_tail NAME: the end of a component's log, for failure messages.
log_tail() {
  local file="$log_dir/$1.log"
  if [[ -s "$file" ]]; then
    say "---- last lines of $file ----"
    tail -n 40 "$file" >&2
    say "----"
  elif [[ -e "$file" ]]; then
    say "($file is empty)"
  else
    say "(no log: $file does not exist)"
  fi
}

# stop_component NAME: TERM the recorded process, wait up to 30 s, then KILL; forget the PID.
stop_component() {
  local name="$1" pid waited=0
  if pid="$(recorded_pid "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    while is_running "$pid"; do
      if ((waited == 300)); then
        say "$name (pid $pid) did not exit after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    say "stopped $name (pid $pid)"
  fi
  rm -f "$pid_dir/$name.pid"
}

# stop_all: stops every recorded component, newest first (kube-controller-manager, kube-apiserver,
# etcd), then removes the cluster's state but keeps the logs and the binary links.
stop_all() {
  local i
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    stop_component "${components[i]}"
  done
  rm -rf "$pid_dir" "$etcd_data_dir" "$pki_dir" "$kcm_cert_dir" "$ports_file" \
    "$admin_kubeconfig" "$kcm_kubeconfig"
}
