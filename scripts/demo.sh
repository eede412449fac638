#!/usr/bin/env bash
# `make demo`: the whole product on one machine, without a storage cluster or a Kubernetes
# cluster. Builds the binaries, starts the local control plane, an ONTAP simulator with a few dozen
# tunnels (some down), installs the chart's CRDs, RBAC and read-only guard (rendered by helm), runs
# the operator as a local process with a token of the chart's ServiceAccount (not as an admin),
# creates a Secret and an OntapCluster, waits for the mirror and prints it.
#
# Running it again replaces the previous demo's processes and keeps its namespace. `make demo-down`
# stops everything it started.
#
# Every failure says what failed: a failing command is named by the ERR trap, a step that times out
# or a process that exits says so, and on any failure the logs of the processes this run started
# are printed and those processes are stopped.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=demo-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/demo-common.sh"

# Names and PIDs of the processes this run started, stopped again if the run fails.
started=()
started_pids=()

# on_error STATUS LINE COMMAND: names the command that failed. Command substitutions inherit the
# trap (set -E); only this shell reports, with the assignment or command that ran the substitution.
on_error() {
  [[ "$BASHPID" == "$$" ]] || return 0
  say "make demo failed: \`$3\` exited with status $1 (scripts/demo.sh line $2)"
}
trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR

# fail MESSAGE...: a failure that no failing command names (a timeout, an exited process).
fail() {
  say "make demo failed: $*"
  exit 1
}

# parent_of PID: the parent's PID.
parent_of() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  stat="${stat#* }"
  echo "${stat%% *}"
}

# On any failure: the end of every log of this run, then stop what this run started.
on_exit() {
  local status=$? name pid
  ((status != 0)) || return 0
  trap - ERR
  for name in "${started[@]}"; do
    log_tail "$demo_dir/$name.log"
  done
  for name in "${started[@]}"; do
    stop_recorded "$name"
  done
  # One that has not exec'd its binary yet is not recorded_pid's; it is still this shell's child.
  for pid in "${started_pids[@]}"; do
    if is_running "$pid" && [[ "$(parent_of "$pid")" == "$$" ]]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  say "make demo did not finish (exit status $status); logs are in target/demo/, \`make demo-down\` removes the rest"
}
trap on_exit EXIT

started_at=$(date +%s)
cd "$repo_root"

# The simulator's shape: NODES nodes with TUNNELS tunnels each, one IKE and one IPsec SA per tunnel.
NODES=2
TUNNELS=12
EXPECTED_SAS=$((NODES * TUNNELS * 2))
SIM_USERNAME='admin'
SIM_PASSWORD='netapp1!'
WAIT_SECONDS=180
# A started process must exec its binary within START_SECONDS and be ready within READY_SECONDS.
START_SECONDS=30
READY_SECONDS=90

say "==> building ontap-ipsec-operator and ontap-sim (cargo build --bins)"
cargo build --bins

say "==> starting the local control plane (make cluster-up)"
bash tests/k8s/cluster-up.sh >/dev/null
export KUBECONFIG="$admin_kubeconfig"

mkdir -p "$demo_dir"
chmod 700 "$demo_dir"
# A previous demo's processes give way to this one.
stop_recorded operator
stop_recorded ontap-sim

# pick_port: a free loopback port below Linux's ephemeral range.
pick_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# start NAME ARGS...: runs NAME's binary with ARGS in its own session (a Ctrl-C in this terminal
# does not reach it; it outlives this script), stdout to NAME.out and stderr to NAME.log, records
# its PID and returns once that PID runs the binary. Until the forked shell has exec'd, the PID's
# command line is this script's, not the binary's: on a loaded machine that lasts long enough for a
# check by command line to take a starting process for one that has exited.
start() {
  local name="$1" binary pid deadline status
  shift
  binary="$(binary_of "$name")"
  rm -f "$demo_dir/$name.out" "$demo_dir/$name.log"
  setsid "$binary" "$@" </dev/null >"$demo_dir/$name.out" 2>"$demo_dir/$name.log" &
  pid=$!
  echo "$pid" >"$demo_dir/$name.pid"
  started+=("$name")
  started_pids+=("$pid")
  deadline=$((SECONDS + START_SECONDS))
  until recorded_pid "$name" >/dev/null; do
    if ! is_running "$pid"; then
      status=0
      wait "$pid" || status=$?
      fail "$name (pid $pid) exited with status $status as it started"
    fi
    ((SECONDS < deadline)) || fail "$name (pid $pid) did not start $binary within ${START_SECONDS}s"
    sleep 0.1
  done
}

# wait_ready NAME SECONDS WHAT COMMAND...: polls COMMAND until it succeeds; fails saying WHAT was
# awaited when NAME's process exits (with its exit status) or SECONDS pass.
wait_ready() {
  local name="$1" seconds="$2" what="$3" pid deadline status
  shift 3
  pid="$(<"$demo_dir/$name.pid")"
  deadline=$((SECONDS + seconds))
  until "$@"; do
    if ! recorded_pid "$name" >/dev/null; then
      status=0
      wait "$pid" 2>/dev/null || status=$?
      fail "$name (pid $pid) exited with status $status before $what"
    fi
    ((SECONDS < deadline)) || fail "$name (pid $pid): no $what after ${seconds}s"
    sleep 0.1
  done
}

sim_listening() { grep -q '^listening on ' "$demo_dir/ontap-sim.out" 2>/dev/null; }

say "==> starting ontap-sim with $NODES nodes x $TUNNELS tunnels ($EXPECTED_SAS SAs)"
rm -f "$demo_dir/ontap-sim.pem" "$demo_dir/ontap-sim.url"
start ontap-sim --listen 127.0.0.1:0 \
  --generate "$NODES:$TUNNELS" --cert-out "$demo_dir/ontap-sim.pem" \
  --username "$SIM_USERNAME" --password "$SIM_PASSWORD" --cluster-name "$cluster_name"
wait_ready ontap-sim "$READY_SECONDS" "'listening on' line in target/demo/ontap-sim.out" sim_listening
sim_url="$(sed -n 's/^listening on //p' "$demo_dir/ontap-sim.out")"
[[ "$sim_url" == https://* ]] || fail "ontap-sim announced an address that is not https: '$sim_url'"
echo "$sim_url" >"$demo_dir/ontap-sim.url"

sim_curl() {
  curl -fsS --cacert "$demo_dir/ontap-sim.pem" -u "$SIM_USERNAME:$SIM_PASSWORD" "$@"
}
# uuids TYPE COUNT: the first COUNT SA uuids of TYPE, read through ONTAP's own REST API.
uuids() {
  sim_curl -H 'Accept: application/json' \
    "$sim_url/api/security/ipsec/security-associations?type=$1&fields=uuid&order_by=uuid&max_records=$2" |
    grep -o '"uuid":"[0-9a-f-]*"' | cut -d'"' -f4
}
# Some tunnels are down, as on any real cluster: IKE connecting, a dead peer, IPsec not installed.
# Into a variable first: a failure of a process substitution would go unnoticed.
ike_list="$(uuids ike 3)"
ipsec_list="$(uuids ipsec 1)"
mapfile -t ike <<<"$ike_list"
mapfile -t ipsec <<<"$ipsec_list"
[[ ${#ike[@]} == 3 && -n "${ike[2]}" && -n "${ipsec[0]}" ]] ||
  fail "ontap-sim listed IKE SAs '${ike[*]}' and IPsec SAs '${ipsec[*]}', expected 3 and 1 uuids"
set_state() { sim_curl -X PATCH "$sim_url/_sim/security-associations/$1" -d "$2" >/dev/null; }
set_state "${ike[0]}" '{"ike": {"state": "connecting"}}'
set_state "${ike[1]}" '{"ike": {"state": "dead_peer_probe"}}'
set_state "${ipsec[0]}" '{"ipsec": {"state": "none"}}'
flip_uuid="${ike[2]}"

say "==> installing the chart's CRDs, RBAC and read-only guard (helm template | kubectl apply --server-side)"
"$kubectl" create namespace "$DEMO_NAMESPACE" --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null
# One namespace only: a Role instead of a ClusterRole, and the guard bound to this namespace, so
# other operators on this control plane (the test suite's) are unaffected.
"$helm" template "$release" "$chart" --namespace "$DEMO_NAMESPACE" \
  --kube-version "$("$kubectl" get --raw /version | grep -o '"gitVersion": *"[^"]*"' | cut -d'"' -f4)" \
  --set watchNamespace="$DEMO_NAMESPACE" \
  --show-only templates/crds.yaml \
  --show-only templates/serviceaccount.yaml \
  --show-only templates/rbac-operator.yaml \
  --show-only templates/rbac-view.yaml \
  --show-only templates/admission-policy.yaml \
  >"$demo_dir/chart.yaml"
"$kubectl" apply --server-side --force-conflicts --field-manager=ontap-ipsec-demo -f "$demo_dir/chart.yaml" >/dev/null
"$kubectl" wait --for=condition=Established --timeout=60s \
  crd/ontapclusters.ontap-ipsec.dev crd/ipsecsecurityassociations.ontap-ipsec.dev >/dev/null

say "==> minting a token for ServiceAccount $DEMO_NAMESPACE/$service_account and writing its kubeconfig"
token="$("$kubectl" -n "$DEMO_NAMESPACE" create token "$service_account" --duration=24h)"
server="$("$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
ca_data="$("$kubectl" config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
umask 077
cat >"$demo_dir/operator.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: demo
  cluster:
    server: $server
    certificate-authority-data: $ca_data
users:
- name: $service_account
  user:
    token: $token
contexts:
- name: demo
  context:
    cluster: demo
    user: $service_account
    namespace: $DEMO_NAMESPACE
current-context: demo
EOF
umask 022

say "==> starting the operator as system:serviceaccount:$DEMO_NAMESPACE:$service_account"
operator_args=(run --namespace "$DEMO_NAMESPACE" --instance demo)
operator_help="$("$operator_bin" run --help)"
metrics_port=
health_port=
rm -f "$demo_dir/metrics.url"
if [[ "$operator_help" == *--metrics-addr* ]]; then
  # /metrics over plain HTTP (the binary's default --metrics-auth none), on loopback only.
  metrics_port="$(pick_port)"
  operator_args+=(--metrics-addr "127.0.0.1:$metrics_port")
  echo "http://127.0.0.1:$metrics_port/metrics" >"$demo_dir/metrics.url"
  health_port="$metrics_port"
fi
if [[ "$operator_help" == *--health-addr* ]]; then
  # /healthz and /readyz have their own port (before --health-addr they shared the metrics one).
  health_port="$(pick_port)"
  while [[ "$health_port" == "$metrics_port" ]]; do health_port="$(pick_port)"; done
  operator_args+=(--health-addr "127.0.0.1:$health_port")
fi
KUBECONFIG="$demo_dir/operator.kubeconfig" start operator "${operator_args[@]}"
# Ready once it has found the CRDs and listed its objects with the ServiceAccount's rights.
operator_ready() { [[ "$(curl -fsS --max-time 2 "http://127.0.0.1:$health_port/readyz" 2>/dev/null)" == ok ]]; }
if [[ -n "$health_port" ]]; then
  wait_ready operator "$READY_SECONDS" "ok from http://127.0.0.1:$health_port/readyz" operator_ready
fi

say "==> creating the Secrets and OntapCluster $cluster_name"
"$kubectl" -n "$DEMO_NAMESPACE" create secret generic ontap-credentials \
  --from-literal=username="$SIM_USERNAME" --from-literal=password="$SIM_PASSWORD" \
  --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null
"$kubectl" -n "$DEMO_NAMESPACE" create secret generic ontap-ca \
  --from-file=ca.crt="$demo_dir/ontap-sim.pem" --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null
"$kubectl" apply -f - >/dev/null <<EOF
apiVersion: ontap-ipsec.dev/v1alpha1
kind: OntapCluster
metadata:
  name: $cluster_name
  namespace: $DEMO_NAMESPACE
spec:
  endpoint: $sim_url
  credentialsSecretRef:
    name: ontap-credentials
  tls:
    caSecretRef:
      name: ontap-ca
  pollInterval: 10s
EOF

say "==> waiting for the mirror ($EXPECTED_SAS IpsecSecurityAssociations)"
deadline=$(($(date +%s) + WAIT_SECONDS))
# Ready for this spec (a previous demo's status may still show the old endpoint's result).
generation="$("$kubectl" -n "$DEMO_NAMESPACE" get ontap "$cluster_name" -o jsonpath='{.metadata.generation}')"
ready_query='{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].observedGeneration}/{.status.securityAssociations.total}'
mirror_complete() {
  [[ "$("$kubectl" -n "$DEMO_NAMESPACE" get ontap "$cluster_name" -o jsonpath="$ready_query" 2>/dev/null)" \
    == "True/$generation/$EXPECTED_SAS" ]]
}
until mirror_complete; do
  recorded_pid operator >/dev/null || fail "the operator exited before the mirror was complete"
  if (($(date +%s) >= deadline)); then
    say "the OntapCluster's status: $("$kubectl" -n "$DEMO_NAMESPACE" get ontap "$cluster_name" -o jsonpath='{.status}' 2>&1)"
    fail "no complete mirror of $EXPECTED_SAS SAs after ${WAIT_SECONDS}s"
  fi
  sleep 1
done
mirrored_count() { "$kubectl" -n "$DEMO_NAMESPACE" get ipsecsa -o name | wc -l; }
until [[ "$(mirrored_count)" -eq "$EXPECTED_SAS" ]]; do
  (($(date +%s) < deadline)) ||
    fail "$(mirrored_count) IpsecSecurityAssociations in $DEMO_NAMESPACE after ${WAIT_SECONDS}s, expected $EXPECTED_SAS"
  sleep 1
done

echo
echo "\$ kubectl -n $DEMO_NAMESPACE get ontap"
"$kubectl" -n "$DEMO_NAMESPACE" get ontap
echo
echo "\$ kubectl -n $DEMO_NAMESPACE get ipsecsa -o wide"
"$kubectl" -n "$DEMO_NAMESPACE" get ipsecsa -o wide
echo
elapsed=$(($(date +%s) - started_at))
cat <<EOF
The demo is up (${elapsed}s). The operator runs as system:serviceaccount:$DEMO_NAMESPACE:$service_account
with exactly the chart's RBAC; state, logs and PIDs are in target/demo/.

Try it:

  # take a tunnel down in the simulator; the operator sees it within one poll (10 s)
  curl --cacert target/demo/ontap-sim.pem -u '$SIM_USERNAME:$SIM_PASSWORD' -X PATCH \\
    $sim_url/_sim/security-associations/$flip_uuid -d '{"ike": {"state": "connecting"}}'

  # watch the mirrored objects change
  export KUBECONFIG=$admin_kubeconfig
  target/k8s/bin/kubectl -n $DEMO_NAMESPACE get ipsecsa -w

The mirrored objects are read-only; an admin's edit is refused by the chart's admission policy:
  target/k8s/bin/kubectl -n $DEMO_NAMESPACE label ipsecsa --all team=storage

Stop it with \`make demo-down\` (the control plane keeps running; \`make cluster-down\` stops it).
EOF
