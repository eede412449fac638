#!/usr/bin/env bash
# Starts the local control plane (etcd, kube-apiserver, kube-controller-manager) on 127.0.0.1 with
# free ports and fresh certificates, waits until it serves, and prints the admin kubeconfig path on
# stdout (everything else goes to stderr). Idempotent: if this checkout's cluster is already up it
# says so and prints the path again.
#
# Every failure says what failed: a failing command is named, a component that exits or is not
# ready in time is named with what was awaited and the end of its log, and what this run started is
# stopped again.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# A started process must exec its binary within START_SECONDS (it is still the forked shell until
# then); the deadlines for being ready are per component, below.
START_SECONDS=30

# on_error STATUS LINE COMMAND: names a failing command. Command substitutions inherit the trap
# (set -E); only this shell reports, with the command that ran the substitution.
on_error() {
  [[ "$BASHPID" == "$$" ]] || return 0
  say "cluster-up failed: \`$3\` exited with status $1 (tests/k8s/cluster-up.sh line $2)"
}
trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR

# fail NAME MESSAGE...: a failure no failing command names (an exited component, a timeout): says
# so with the end of NAME's log and exits; the EXIT trap stops what was started.
fail() {
  local name="$1"
  shift
  say "cluster-up failed: $*"
  log_tail "$name"
  exit 1
}

take_lock

# admin_curl PATH: a request to the kube-apiserver as the admin.
admin_curl() {
  curl -fsS --max-time 5 --cacert "$pki_dir/ca.crt" --cert "$pki_dir/admin.crt" \
    --key "$pki_dir/admin.key" "https://127.0.0.1:$APISERVER_PORT$1"
}

already_up() {
  local c
  for c in "${components[@]}"; do recorded_pid "$c" >/dev/null || return 1; done
  [[ -f "$ports_file" && -f "$admin_kubeconfig" ]] || return 1
  # shellcheck source=/dev/null # written below
  source "$ports_file"
  [[ "$(admin_curl /readyz 2>/dev/null)" == ok ]]
}

if already_up; then
  say "control plane already up (kube-apiserver https://127.0.0.1:$APISERVER_PORT)"
  echo "$admin_kubeconfig"
  exit 0
fi

# Leftovers of a cluster that died or was half started: stop what still runs, start afresh.
if compgen -G "$pid_dir/*.pid" >/dev/null; then
  say "stale control plane state found; stopping its remaining processes"
fi
stop_all

bash "$k8s_here/build.sh" >&2

mkdir -p "$pid_dir" "$log_dir" "$kcm_cert_dir"
# etcd wants its data private.
mkdir -m 700 "$etcd_data_dir"
started_at=$(date +%s%N)

# A start that fails halfway must not leave processes behind.
up=false
started_pids=()
# parent_of PID: the parent's PID.
parent_of() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  stat="${stat#* }"
  echo "${stat%% *}"
}
cleanup_on_failure() {
  local pid
  if [[ "$up" != true ]]; then
    trap - ERR
    say "control plane start-up failed; stopping what was started (logs in $log_dir)"
    stop_all
    # One that has not exec'd its binary yet is not recorded_pid's; it is still this shell's child.
    for pid in "${started_pids[@]}"; do
      if is_running "$pid" && [[ "$(parent_of "$pid")" == "$$" ]]; then
        say "stopping pid $pid, which had not started its binary yet"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done
  fi
}
trap cleanup_on_failure EXIT

# pick_port VAR: a loopback port nothing listens on, below Linux's ephemeral range so outgoing
# connections do not take it between here and the bind.
picked_ports=" "
pick_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))
    [[ "$picked_ports" == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      picked_ports+="$port "
      printf -v "$1" '%s' "$port"
      return
    fi
  done
}
pick_port ETCD_CLIENT_PORT
pick_port ETCD_PEER_PORT
pick_port APISERVER_PORT
pick_port CONTROLLER_MANAGER_PORT
cat >"$ports_file" <<EOF
ETCD_CLIENT_PORT=$ETCD_CLIENT_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
CONTROLLER_MANAGER_PORT=$CONTROLLER_MANAGER_PORT
EOF

bash "$k8s_here/pki.sh" "$pki_dir"

# write_kubeconfig FILE USER NAME: a kubeconfig with the CA and USER's client certificate embedded.
write_kubeconfig() {
  local file="$1" user="$2" name="$3"
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ontap-ipsec-operator-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$pki_dir/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$pki_dir/$name.crt")
    client-key-data: $(base64 -w0 "$pki_dir/$name.key")
contexts:
- name: ontap-ipsec-operator-test
  context:
    cluster: ontap-ipsec-operator-test
    user: $user
current-context: ontap-ipsec-operator-test
EOF
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}
write_kubeconfig "$kcm_kubeconfig" system:kube-controller-manager kube-controller-manager

# start NAME ARGS...: runs a binary from target/k8s/bin in its own session (so a Ctrl-C in the
# terminal that ran `make` does not reach it), records its PID and returns once that PID runs the
# binary. Until the forked shell has exec'd setsid and setsid the binary, the PID's command line is
# this script's: on a loaded machine that lasts long enough for a check by command line to take a
# starting component for one that has exited. It must not inherit the lock's file descriptor, or the
# lock would be held for as long as the cluster runs.
start() {
  local name="$1" binary pid deadline status
  shift
  binary="$(binary_of "$name")"
  setsid "$binary" "$@" </dev/null >"$log_dir/$name.log" 2>&1 9>&- &
  pid=$!
  started_pids+=("$pid")
  echo "$pid" >"$pid_dir/$name.pid"
  deadline=$((SECONDS + START_SECONDS))
  until recorded_pid "$name" >/dev/null; do
    if ! is_running "$pid"; then
      status=0
      wait "$pid" || status=$?
      fail "$name" "$name (pid $pid) exited with status $status as it started $binary"
    fi
    ((SECONDS < deadline)) || fail "$name" "$name (pid $pid) did not run $binary within ${START_SECONDS}s"
    sleep 0.1
  done
}

# wait_for NAME SECONDS WHAT COMMAND...: polls COMMAND until it succeeds; fails saying WHAT was
# awaited, with the end of the component's log, if the process exits (with its exit status) or
# SECONDS pass.
wait_for() {
  local name="$1" seconds="$2" what="$3" pid deadline status
  shift 3
  pid="$(<"$pid_dir/$name.pid")"
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! recorded_pid "$name" >/dev/null; then
      status=0
      wait "$pid" 2>/dev/null || status=$?
      fail "$name" "$name (pid $pid) exited with status $status before $what"
    fi
    ((SECONDS < deadline)) || fail "$name" "$name (pid $pid): no $what after ${seconds}s"
    sleep 0.25
  done
}

etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"'; }
apiserver_ready() { [[ "$(admin_curl /readyz)" == ok ]]; }
controller_manager_healthy() {
  [[ "$(curl -fsS --max-time 2 -k "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz")" == ok ]]
}
# The service-account controller creating "default" in the default namespace shows that the
# controller manager reaches the API server and that its per-controller credentials work.
default_service_account_exists() {
  admin_curl /api/v1/namespaces/default/serviceaccounts/default
}

start etcd \
  --name=ontap-ipsec-operator-test \
  --data-dir="$etcd_data_dir" \
  --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="ontap-ipsec-operator-test=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync=true \
  --log-level=warn
wait_for etcd 30 "healthy /health" etcd_healthy

start kube-apiserver \
  --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address=127.0.0.1 \
  --secure-port="$APISERVER_PORT" \
  --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --tls-cert-file="$pki_dir/kube-apiserver.crt" \
  --tls-private-key-file="$pki_dir/kube-apiserver.key" \
  --client-ca-file="$pki_dir/ca.crt" \
  --service-account-issuer="https://127.0.0.1:$APISERVER_PORT" \
  --service-account-key-file="$pki_dir/service-account.pub" \
  --service-account-signing-key-file="$pki_dir/service-account.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --authorization-mode=RBAC \
  --allow-privileged=true \
  --disable-admission-plugins=ServiceAccount \
  --enable-admission-plugins=OwnerReferencesPermissionEnforcement \
  --profiling=false
wait_for kube-apiserver 180 "ok from /readyz" apiserver_ready

start kube-controller-manager \
  --kubeconfig="$kcm_kubeconfig" \
  --authentication-kubeconfig="$kcm_kubeconfig" \
  --authorization-kubeconfig="$kcm_kubeconfig" \
  --authentication-skip-lookup=true \
  --controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,clusterrole-aggregation-controller \
  --use-service-account-credentials=true \
  --leader-elect=false \
  --bind-address=127.0.0.1 \
  --secure-port="$CONTROLLER_MANAGER_PORT" \
  --cert-dir="$kcm_cert_dir" \
  --profiling=false
wait_for kube-controller-manager 60 "ok from /healthz" controller_manager_healthy
wait_for kube-controller-manager 60 "ServiceAccount default/default (created by its serviceaccount-controller)" \
  default_service_account_exists

write_kubeconfig "$admin_kubeconfig" admin admin
up=true
elapsed_ms=$((($(date +%s%N) - started_at) / 1000000))
say "control plane $("$bin_dir/kube-apiserver" --version | cut -d' ' -f2) up in" \
  "$((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100))s: kube-apiserver https://127.0.0.1:$APISERVER_PORT, logs in $log_dir"
echo "$admin_kubeconfig"
