#!/usr/bin/env bash
# `make demo`: the whole product on one machine, without a storage cluster or a Kubernetes
# cluster. Builds the binaries, starts the local control plane, an ONTAP simulator with a few dozen
# tunnels (some down), installs the chart's CRDs, RBAC and read-only guard (rendered by helm), runs
# the operator as a local process with a token of the chart's ServiceAccount (not as an admin),
# creates a Secret and an OntapCluster, waits for the mirror and prints it.
#
# Running it again replaces the previous demo's processes and keeps its namespace. `make demo-down`
# stops everything it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/demo-common.sh"

started_at=$(date +%s)
cd "$repo_root"

# The simulator's shape: NODES nodes with TUNNELS tunnels each, one IKE and one IPsec SA per tunnel.
NODES=2
TUNNELS=12
EXPECTED_SAS=$((NODES * TUNNELS * 2))
SIM_USERNAME=admin
SIM_PASSWORD='netapp1!'
WAIT_SECONDS=180

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

# start NAME COMMAND...: runs COMMAND in its own session (a Ctrl-C in this terminal does not reach
# it; it outlives this script), stdout to NAME.out and stderr to NAME.log, and records its PID.
start() {
  local name="$1"
  shift
  setsid "$@" </dev/null >"$demo_dir/$name.out" 2>"$demo_dir/$name.log" &
  echo "$!" >"$demo_dir/$name.pid"
}

say "==> starting ontap-sim with $NODES nodes x $TUNNELS tunnels ($EXPECTED_SAS SAs)"
rm -f "$demo_dir/ontap-sim.out" "$demo_dir/ontap-sim.pem"
start ontap-sim "$simulator_bin" --listen 127.0.0.1:0 \
  --generate "$NODES:$TUNNELS" --cert-out "$demo_dir/ontap-sim.pem" \
  --username "$SIM_USERNAME" --password "$SIM_PASSWORD" --cluster-name "$cluster_name"
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$demo_dir/ontap-sim.out" 2>/dev/null && break
  recorded_pid ontap-sim >/dev/null || { cat "$demo_dir/ontap-sim.log" >&2; exit 1; }
  sleep 0.1
done
sim_url="$(sed -n 's/^listening on //p' "$demo_dir/ontap-sim.out")"
[[ -n "$sim_url" ]] || { say "ontap-sim did not announce its address"; exit 1; }
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
mapfile -t ike < <(uuids ike 3)
mapfile -t ipsec < <(uuids ipsec 1)
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
if "$operator_bin" run --help | grep -q -- '--metrics-addr'; then
  metrics_port="$(pick_port)"
  operator_args+=(--metrics-addr "127.0.0.1:$metrics_port")
  echo "http://127.0.0.1:$metrics_port/metrics" >"$demo_dir/metrics.url"
fi
start operator env KUBECONFIG="$demo_dir/operator.kubeconfig" "$operator_bin" "${operator_args[@]}"

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
until [[ "$("$kubectl" -n "$DEMO_NAMESPACE" get ontap "$cluster_name" -o jsonpath="$ready_query" 2>/dev/null)" \
  == "True/$generation/$EXPECTED_SAS" ]]; do
  if ! recorded_pid operator >/dev/null; then
    say "the operator exited; its log:"
    tail -n 30 "$demo_dir/operator.log" >&2
    exit 1
  fi
  if (($(date +%s) >= deadline)); then
    say "no complete mirror after ${WAIT_SECONDS}s; the operator's log ends with:"
    tail -n 30 "$demo_dir/operator.log" >&2
    exit 1
  fi
  sleep 1
done
until [[ "$("$kubectl" -n "$DEMO_NAMESPACE" get ipsecsa -o name | wc -l)" -eq "$EXPECTED_SAS" ]]; do
  (($(date +%s) < deadline)) || { say "the mirrored objects did not all appear"; exit 1; }
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
