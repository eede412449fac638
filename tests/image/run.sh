#!/usr/bin/env bash
# Tests the container image, not just the binary: `make image`, then
#
# 1. the archive: skopeo reads it and copies it to an OCI layout and to a `docker load` archive; its
#    config has user 65532:65532, the entrypoint, the command and the OCI labels (the version is
#    Cargo.toml's); the SBOM lists the crates of the binary in the image and its Debian packages.
# 2. the root filesystem, unpacked from the archive's layers: no shell, nothing set-uid, nothing
#    writable but /tmp, nothing owned by 65532, a nonroot passwd entry, the CA bundle; the binary in
#    it runs as 65532 with only the image's libraries.
# 3. the operator from the image's own root filesystem: chroot into it as uid/gid 65532, the root
#    read-only (the chart's readOnlyRootFilesystem), with what the kubelet would mount (a token of
#    the chart's ServiceAccount with the chart's namespace RBAC, the API server's CA, /etc/hosts) and
#    the in-cluster environment; it mirrors every SA of an ontap-sim on this machine, reached by
#    the name `localhost` (glibc's resolver from the image), and stops cleanly on SIGTERM.
# 4. the Dockerfile: its final stage, built by buildah with the builder stage replaced by `make
#    image`'s root filesystem, gives the same layer (same paths, modes, owners, contents) and the
#    same user, entrypoint, command, ports, environment and labels.
#
# Skipped, saying so, where buildah or skopeo is not installed; under CI (CI=true) that is a
# failure, since .ci/run installs them. Logs are in target/image-test/.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root" || exit 1

log_dir="$repo_root/target/image-test"
kubectl="$repo_root/target/k8s/bin/kubectl"
helm="$repo_root/target/k8s/bin/helm"
chart="$repo_root/charts/ontap-ipsec-operator"
admin_kubeconfig="$repo_root/target/k8s/admin.kubeconfig"
archive="$repo_root/target/image/ontap-ipsec-operator.oci.tar"
sbom="$repo_root/target/image/ontap-ipsec-operator.cdx.json"
binary_path=/usr/local/bin/ontap-ipsec-operator
simulator="${CARGO_TARGET_DIR:-$repo_root/target}/debug/ontap-sim"
namespace="ontap-image-test-$(date +%s)"
release=ontap-image-test
NODES=2
TUNNELS=3
EXPECTED_SAS=$((NODES * TUNNELS * 2))
SIM_USERNAME='admin'
SIM_PASSWORD='image-test-1!'
WAIT_SECONDS=180
started_at=$SECONDS

missing=()
for tool in buildah skopeo; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  if [[ "${CI:-}" == true ]]; then
    echo "FAILED: image test: ${missing[*]} not installed, but .ci/run installs them"
    echo "image: 0 passed, 1 failed"
    exit 1
  fi
  echo "SKIPPED: image test (tests/image/run.sh): ${missing[*]} not installed; apt-get install buildah skopeo"
  exit 0
fi

rm -rf "$log_dir"
mkdir -p "$log_dir"
passed=0
failed=0
ok() {
  echo "ok: $*"
  passed=$((passed + 1))
}
not_ok() {
  echo "FAILED: $*"
  failed=$((failed + 1))
}
check() { # check DESCRIPTION COMMAND...
  local description="$1"
  shift
  if "$@"; then
    ok "$description"
  else
    not_ok "$description"
    return 1
  fi
}
phase() { echo "== [$((SECONDS - started_at))s] $*"; }
finish() {
  phase "done"
  echo "image: $passed passed, $failed failed"
  ((failed == 0))
  exit
}

sim_pid=
operator_pid=
storage=
cleanup() {
  local pid
  for pid in $operator_pid $sim_pid; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  if [[ -n "$storage" ]]; then
    buildah --storage-driver vfs --root "$storage/root" --runroot "$storage/run" rmi --all >/dev/null 2>&1
    rm -rf "$storage"
  fi
  if [[ -x "$kubectl" && -f "$admin_kubeconfig" ]]; then
    KUBECONFIG="$admin_kubeconfig" "$kubectl" delete namespace "$namespace" --wait=false >/dev/null 2>&1
  fi
}
trap cleanup EXIT

# ---- make image ----------------------------------------------------------------------------------
phase "make image (log: target/image-test/make-image.log)"
image_started=$SECONDS
if ! make --no-print-directory image >"$log_dir/make-image.log" 2>&1; then
  tail -n 40 "$log_dir/make-image.log"
  not_ok "make image"
  finish
fi
ok "make image ($((SECONDS - image_started))s)"
tail -n 4 "$log_dir/make-image.log" | sed 's/^/   /'

# ---- 1. the archive ------------------------------------------------------------------------------
phase "the archive"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
skopeo inspect --config --raw "oci-archive:$archive" >"$log_dir/config.json" 2>"$log_dir/skopeo.err" &&
  ok "skopeo reads oci-archive:${archive#"$repo_root/"}" ||
  { not_ok "skopeo reads the archive: $(cat "$log_dir/skopeo.err")"; finish; }
layout="$log_dir/oci"
check "skopeo copies it to an OCI layout" \
  skopeo copy --quiet "oci-archive:$archive" "oci:$layout:image"
check "skopeo copies it to a docker-archive (docker load)" \
  skopeo copy --quiet "oci-archive:$archive" "docker-archive:$log_dir/docker.tar:ontap-ipsec-operator:$version"
config_is() { # config_is PYTHON-EXPRESSION-OVER-c EXPECTED-REPR
  python3 - "$log_dir/config.json" "$1" "$2" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
got = eval(sys.argv[2])
if repr(got) != sys.argv[3]:
    print(f"   {sys.argv[2]} is {got!r}, expected {sys.argv[3]}")
    sys.exit(1)
EOF
}
check "user 65532:65532" config_is 'c["config"]["User"]' "'65532:65532'"
check "entrypoint [$binary_path], command [run]" \
  config_is '(c["config"]["Entrypoint"], c["config"]["Cmd"])' "(['$binary_path'], ['run'])"
check "label version $version (Cargo.toml), licenses Apache-2.0" \
  config_is '(c["config"]["Labels"]["org.opencontainers.image.version"], c["config"]["Labels"]["org.opencontainers.image.licenses"])' \
  "('$version', 'Apache-2.0')"
check "labels source and revision set" \
  config_is 'all(c["config"]["Labels"].get("org.opencontainers.image." + k) for k in ("source", "revision"))' True
check "one layer" config_is 'len(c["rootfs"]["diff_ids"])' 1
check "the archive names the image for docker load and podman load" python3 - "$archive" "$version" <<'EOF'
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    index = json.load(tar.extractfile("index.json"))
annotations = index["manifests"][0]["annotations"]
want = {"io.containerd.image.name": f"docker.io/library/ontap-ipsec-operator:{sys.argv[2]}",
        "org.opencontainers.image.ref.name": f"ontap-ipsec-operator:{sys.argv[2]}"}
sys.exit(0 if all(annotations.get(k) == v for k, v in want.items()) else print("  ", annotations) or 1)
EOF

# ---- 2. the root filesystem ----------------------------------------------------------------------
phase "the root filesystem, unpacked from the layers"
rootfs="$log_dir/rootfs"
mkdir -p "$rootfs"
unpack() {
  local manifest layer
  manifest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1])' "$layout/index.json")" || return 1
  for layer in $(python3 -c 'import json,sys; print(" ".join(l["digest"].split(":")[1] for l in json.load(open(sys.argv[1]))["layers"]))' "$layout/blobs/sha256/$manifest"); do
    if tar -tzf "$layout/blobs/sha256/$layer" | grep -q '\(^\|/\)\.wh\.'; then
      echo "   layer $layer has whiteouts; this test unpacks plain layers only"
      return 1
    fi
    tar -xzf "$layout/blobs/sha256/$layer" -C "$rootfs" --numeric-owner --same-owner --same-permissions || return 1
  done
}
check "unpacked" unpack
find "$rootfs" -printf '%M %U:%G %P\n' | sort -k3 >"$log_dir/rootfs.list"
no_shell() {
  local found
  found="$(find "$rootfs" \( -name sh -o -name bash -o -name dash -o -name ash -o -name busybox -o -name '*sh' \) -printf '/%P\n')"
  [[ -z "$found" ]] || { echo "   found: $found"; return 1; }
}
check "no shell" no_shell
check "nothing set-uid or set-gid" test -z "$(find "$rootfs" -perm /6000 -printf '/%P\n')"
check "nothing owned by anyone but root" test -z "$(find "$rootfs" \( ! -uid 0 -o ! -gid 0 \) -printf '/%P\n')"
check "only /tmp is writable by others (sticky)" \
  test "$(find "$rootfs" ! -type l -perm -o+w -printf '%M /%P\n')" == "drwxrwxrwt /tmp"
check "/etc/passwd has nonroot with uid 65532 and no login shell" \
  grep -qx 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' "$rootfs/etc/passwd"
ca_count="$(grep -c 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || echo 0)"
check "CA bundle /etc/ssl/certs/ca-certificates.crt ($ca_count certificates)" test "$ca_count" -gt 50
check "the image's binary runs as 65532 with the image's libraries only" \
  test "$(env -i "$(command -v chroot)" --userspec=65532:65532 "$rootfs" "$binary_path" --version 2>&1)" == "ontap-ipsec-operator $version"
sbom_of_image() {
  SOURCE_DATE_EPOCH="$(python3 -c 'import json,sys,datetime; print(int(datetime.datetime.fromisoformat(json.load(open(sys.argv[1]))["created"].replace("Z","+00:00")).timestamp()))' "$log_dir/config.json")" \
    python3 scripts/image-sbom.py "$rootfs$binary_path" "$rootfs" "$log_dir/sbom-of-image.json" 2>/dev/null &&
    python3 - "$sbom" "$log_dir/sbom-of-image.json" <<'EOF'
import json, sys
made, fresh = (json.load(open(p)) for p in sys.argv[1:])
purls = lambda bom: sorted(c["purl"] for c in bom["components"])
assert made["bomFormat"] == "CycloneDX", made["bomFormat"]
assert purls(made) == purls(fresh), "the SBOM differs from the image's binary"
have = purls(made)
for prefix in ("pkg:cargo/ontap-ipsec-operator@", "pkg:cargo/kube-client@", "pkg:cargo/rustls@",
               "pkg:cargo/ring@", "pkg:deb/debian/libc6@", "pkg:deb/debian/ca-certificates@"):
    assert any(p.startswith(prefix) for p in have), f"no {prefix} in the SBOM"
print(f"   {len(have)} components")
EOF
}
check "the SBOM next to the archive lists the crates of the image's binary and its Debian packages" sbom_of_image

# ---- 3. the operator from the image --------------------------------------------------------------
phase "the operator, run from the image's root filesystem as 65532"
bash tests/k8s/cluster-up.sh >/dev/null || { not_ok "local control plane (make cluster-up)"; finish; }
export KUBECONFIG="$admin_kubeconfig"
if [[ ! -x "$simulator" ]]; then
  cargo build --quiet --bin ontap-sim || { not_ok "cargo build --bin ontap-sim"; finish; }
fi

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
# wait_for SECONDS WHAT COMMAND...: polls COMMAND; false after SECONDS or when the operator exited.
wait_for() {
  local seconds="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@"; do
    if [[ -n "$operator_pid" ]] && ! kill -0 "$operator_pid" 2>/dev/null; then
      echo "   the operator exited while waiting for $what"
      return 1
    fi
    ((SECONDS < deadline)) || { echo "   no $what after ${seconds}s"; return 1; }
    sleep 1
  done
}

"$simulator" --listen 127.0.0.1:0 --generate "$NODES:$TUNNELS" --cert-out "$log_dir/ontap-sim.pem" \
  --username "$SIM_USERNAME" --password "$SIM_PASSWORD" --cluster-name image-test \
  >"$log_dir/ontap-sim.out" 2>"$log_dir/ontap-sim.log" </dev/null &
sim_pid=$!
sim_listening() { grep -q '^listening on ' "$log_dir/ontap-sim.out" 2>/dev/null; }
check "ontap-sim listening" wait_for 60 "'listening on' from ontap-sim" sim_listening || finish
sim_port="$(sed -n 's#^listening on https://127.0.0.1:\([0-9]*\).*#\1#p' "$log_dir/ontap-sim.out")"

setup_namespace() {
  "$kubectl" create namespace "$namespace" >/dev/null &&
    "$helm" template "$release" "$chart" --namespace "$namespace" \
      --kube-version "$("$kubectl" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')" \
      --set watchNamespace="$namespace" \
      --show-only templates/crds.yaml \
      --show-only templates/serviceaccount.yaml \
      --show-only templates/rbac-operator.yaml >"$log_dir/chart.yaml" &&
    "$kubectl" apply --server-side --force-conflicts --field-manager=ontap-image-test \
      -f "$log_dir/chart.yaml" >/dev/null &&
    "$kubectl" wait --for=condition=Established --timeout=60s \
      crd/ontapclusters.ontap-ipsec.dev crd/ipsecsecurityassociations.ontap-ipsec.dev >/dev/null
}
check "namespace $namespace with the chart's ServiceAccount and namespace RBAC" setup_namespace || finish
service_account="$("$kubectl" -n "$namespace" get serviceaccount -o name | grep -v '/default$' | head -n 1)"
service_account="${service_account#serviceaccount/}"

# What the kubelet mounts into the container: the ServiceAccount's token, the cluster's CA and the
# namespace; /etc/hosts and /etc/resolv.conf. Mount points are made in the unpacked copy, as a
# container runtime makes them in the container's layer; the files stay outside the image.
mounts="$log_dir/mounts"
sa_dir="$mounts/serviceaccount"
mkdir -p "$sa_dir" "$rootfs/var/run/secrets/kubernetes.io/serviceaccount"
touch "$rootfs/etc/hosts" "$rootfs/etc/resolv.conf"
"$kubectl" -n "$namespace" create token "$service_account" --duration=1h >"$sa_dir/token"
"$kubectl" config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
  base64 -d >"$sa_dir/ca.crt"
printf '%s' "$namespace" >"$sa_dir/namespace"
chmod 0644 "$sa_dir"/*
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$mounts/hosts"
cp /etc/resolv.conf "$mounts/resolv.conf" 2>/dev/null || : >"$mounts/resolv.conf"
api_server="$("$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
api_host="${api_server#https://}"
api_port="${api_host##*:}"
api_host="${api_host%:*}"

metrics_port="$(pick_port)"
health_port="$(pick_port)"
while [[ "$health_port" == "$metrics_port" ]]; do health_port="$(pick_port)"; done
# unshare gives the operator its own mount namespace: the root filesystem bind-mounted read-only
# with the kubelet's files on top; then chroot drops to 65532:65532 and execs the image's
# entrypoint, so $! is the operator itself.
env -i \
  KUBERNETES_SERVICE_HOST="$api_host" KUBERNETES_SERVICE_PORT="$api_port" \
  POD_NAME=ontap-image-test POD_NAMESPACE="$namespace" RUST_LOG=info \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  unshare --mount --propagation private -- /bin/sh -euc '
    root="$1"; mounts="$2"; shift 2
    mount --bind "$root" "$root"
    mount --bind -o ro "$mounts/serviceaccount" "$root/var/run/secrets/kubernetes.io/serviceaccount"
    mount --bind "$mounts/hosts" "$root/etc/hosts"
    mount --bind "$mounts/resolv.conf" "$root/etc/resolv.conf"
    mount -o remount,bind,ro "$root"
    exec chroot --userspec=65532:65532 "$root" "$@"
  ' image-root "$rootfs" "$mounts" \
  "$binary_path" run --namespace "$namespace" \
  --metrics-addr "127.0.0.1:$metrics_port" --health-addr "127.0.0.1:$health_port" \
  --log-format json \
  >"$log_dir/operator.log" 2>&1 </dev/null &
operator_pid=$!

runs_from_image() {
  [[ "$(readlink "/proc/$operator_pid/exe" 2>/dev/null)" == "$rootfs$binary_path" &&
    "$(readlink "/proc/$operator_pid/root" 2>/dev/null)" == "$rootfs" ]]
}
readyz() { [[ "$(curl -fsS --max-time 2 "http://127.0.0.1:$health_port/readyz" 2>/dev/null)" == ok ]]; }
check "the operator runs the image's entrypoint inside the image's root" wait_for 30 "exec into the image" runs_from_image
check "it runs as uid and gid 65532" \
  test "$(grep -E '^(Uid|Gid):' "/proc/$operator_pid/status" | cut -f2- | tr '\t\n' '  ')" \
  == "65532 65532 65532 65532 65532 65532 65532 65532 "
# Its own view of its mounts: the one at / has the option ro.
check "its root filesystem is read-only" \
  test "$(awk '$5 == "/" { split($6, options, ","); print options[1] }' "/proc/$operator_pid/mountinfo")" == ro
check "/readyz says ok (in-cluster config, the ServiceAccount's rights)" wait_for 90 "ok from /readyz" readyz

"$kubectl" -n "$namespace" create secret generic ontap-credentials \
  --from-literal=username="$SIM_USERNAME" --from-literal=password="$SIM_PASSWORD" >/dev/null
"$kubectl" -n "$namespace" create secret generic ontap-ca --from-file=ca.crt="$log_dir/ontap-sim.pem" >/dev/null
"$kubectl" apply -f - >/dev/null <<EOF
apiVersion: ontap-ipsec.dev/v1alpha1
kind: OntapCluster
metadata:
  name: image-test
  namespace: $namespace
spec:
  endpoint: https://localhost:$sim_port
  credentialsSecretRef:
    name: ontap-credentials
  tls:
    caSecretRef:
      name: ontap-ca
  pollInterval: 10s
EOF
mirrored() {
  [[ "$("$kubectl" -n "$namespace" get ontap image-test \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}/{.status.securityAssociations.total}' 2>/dev/null)" \
    == "True/$EXPECTED_SAS" &&
    "$("$kubectl" -n "$namespace" get ipsecsa -o name 2>/dev/null | wc -l)" -eq "$EXPECTED_SAS" ]]
}
mirror_started=$SECONDS
if wait_for "$WAIT_SECONDS" "mirror of $EXPECTED_SAS SAs" mirrored; then
  ok "it mirrors all $EXPECTED_SAS SAs of ontap-sim at https://localhost:$sim_port ($((SECONDS - mirror_started))s)"
  "$kubectl" -n "$namespace" get ontap,ipsecsa 2>&1 | head -n 6 | sed 's/^/   /'
else
  not_ok "the mirror from the image's operator"
  "$kubectl" -n "$namespace" get ontap image-test -o jsonpath='{.status}' 2>&1 | head -c 2000
  echo
  tail -n 30 "$log_dir/operator.log"
fi
metrics_served() {
  curl -fsS --max-time 5 -o "$log_dir/metrics.txt" "http://127.0.0.1:$metrics_port/metrics" &&
    grep -q '^ontap_ipsec_' "$log_dir/metrics.txt"
}
check "/metrics serves the operator's metrics" metrics_served

stop_operator() {
  local status=0 waited=0
  kill -TERM "$operator_pid" 2>/dev/null || return 1
  while kill -0 "$operator_pid" 2>/dev/null && ((waited < 150)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$operator_pid" || status=$?
  operator_pid=
  ((status == 0)) || echo "   exit status $status"
  ((status == 0))
}
check "it stops with status 0 on SIGTERM" stop_operator
kill -TERM "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
sim_pid=

# ---- 4. the Dockerfile ---------------------------------------------------------------------------
phase "the Dockerfile's final stage, built by buildah from the same root filesystem"
storage="$(mktemp -d "$log_dir/buildah.XXXXXX")"
buildah_() { buildah --storage-driver vfs --root "$storage/root" --runroot "$storage/run" "$@"; }
label() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["Labels"]["org.opencontainers.image." + sys.argv[2]])' "$log_dir/config.json" "$1"; }
created_epoch="$(python3 -c 'import json,sys,datetime; print(int(datetime.datetime.fromisoformat(json.load(open(sys.argv[1]))["created"].replace("Z","+00:00")).timestamp()))' "$log_dir/config.json")"
mkdir -p "$storage/context"
# --build-context builder=...: `COPY --from=builder /rootfs/ /` reads make image's rootfs, and the
# builder stage (which needs the rust image) is skipped.
if buildah_ build --quiet --file Dockerfile --build-context builder="$repo_root/target/image" \
  --build-arg VERSION="$(label version)" --build-arg REVISION="$(label revision)" \
  --build-arg SOURCE="$(label source)" --timestamp "$created_epoch" --identity-label=false \
  --tag localhost/ontap-ipsec-operator-dockerfile:test "$storage/context" >"$log_dir/dockerfile-build.log" 2>&1; then
  ok "buildah builds the Dockerfile's final stage"
  buildah_ inspect --type image localhost/ontap-ipsec-operator-dockerfile:test >"$log_dir/dockerfile-image.json"
  same_as_dockerfile() {
    python3 - "$log_dir/config.json" "$log_dir/dockerfile-image.json" <<'EOF'
import json, sys
made = json.load(open(sys.argv[1]))
dockerfile = json.load(open(sys.argv[2]))["OCIv1"]
differences = 0
for key in ("User", "Entrypoint", "Cmd", "ExposedPorts", "Env", "WorkingDir", "Labels", "Volumes", "StopSignal"):
    a, b = made["config"].get(key), dockerfile["config"].get(key)
    if a != b:
        print(f"   {key}: make image {a!r}, Dockerfile {b!r}")
        differences += 1
for key in ("os", "architecture"):
    if made.get(key) != dockerfile.get(key):
        print(f"   {key}: make image {made.get(key)!r}, Dockerfile {dockerfile.get(key)!r}")
        differences += 1
if made["rootfs"]["diff_ids"] != dockerfile["rootfs"]["diff_ids"]:
    print(f"   layers: make image {made['rootfs']['diff_ids']}, Dockerfile {dockerfile['rootfs']['diff_ids']}")
    differences += 1
sys.exit(1 if differences else 0)
EOF
  }
  check "same layer (paths, modes, owners, contents), user, entrypoint, command, ports, env and labels" same_as_dockerfile
else
  tail -n 20 "$log_dir/dockerfile-build.log"
  not_ok "buildah builds the Dockerfile's final stage"
fi
dockerfile_version="$(sed -n 's/^ARG VERSION=//p' Dockerfile)"
check "the Dockerfile's VERSION default ($dockerfile_version) is Cargo.toml's ($version)" \
  test "$dockerfile_version" == "$version"
check "the Dockerfile's builder stage lays out /rootfs with scripts/image-rootfs.sh" \
  grep -q '^RUN bash scripts/image-rootfs.sh /out/ontap-ipsec-operator /rootfs$' Dockerfile

finish
