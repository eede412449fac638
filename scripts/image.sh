#!/usr/bin/env bash
# `make image`: the operator's container image as an OCI archive, built without a container engine
# and without pulling anything.
#
#   target/image/ontap-ipsec-operator.oci.tar     the image (docker load, podman load, skopeo copy)
#   target/image/ontap-ipsec-operator.cdx.json    its SBOM (CycloneDX 1.5): the crates compiled into
#                                                 the binary and the Debian packages of its libraries
#   target/image/rootfs/                          the image's root filesystem, as laid out
#
# 1. `cargo auditable build --release --locked`: the release binary with its crate list embedded
#    (scanners such as trivy, grype and syft read it from the binary); cargo-auditable is installed
#    from crates.io when missing.
# 2. scripts/image-rootfs.sh lays out the root filesystem, the same script as the Dockerfile's
#    builder stage: the binary, its shared libraries, the CA bundle, passwd/group, /tmp.
# 3. buildah (storage driver vfs, in a scratch directory removed afterwards) puts it in one layer
#    `from scratch` and sets what the Dockerfile's final stage sets: user 65532:65532, entrypoint,
#    command, ports, PATH and the org.opencontainers.image labels. tests/image/run.sh checks the two
#    agree.
# 4. The layer, config and archive are reproducible: every timestamp is SOURCE_DATE_EPOCH (default:
#    the time of the last commit) and the archive is written in a fixed order.
#
# Environment: IMAGE_SOURCE (the org.opencontainers.image.source label; default: the `origin`
# remote when it is a URL), IMAGE_REVISION (default: git rev-parse HEAD, "-dirty" appended when
# tracked files differ from it), SOURCE_DATE_EPOCH, CARGO_TARGET_DIR.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

CARGO_AUDITABLE_VERSION=0.7.7
name=ontap-ipsec-operator
out_dir="$repo_root/target/image"
archive="$out_dir/$name.oci.tar"
sbom="$out_dir/$name.cdx.json"
rootfs="$out_dir/rootfs"
binary="${CARGO_TARGET_DIR:-$repo_root/target}/release/$name"
started_at=$SECONDS

say() { echo "$*" >&2; }
fail() {
  say "make image failed: $*"
  exit 1
}
step() { say "==> [$((SECONDS - started_at))s] $*"; }

command -v buildah >/dev/null || fail "buildah is not installed (Debian: apt-get install buildah)"
command -v python3 >/dev/null || fail "python3 is not installed"

# Labels. The version is the crate's; the Dockerfile's VERSION default must match it.
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
licenses="$(sed -n 's/^license = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
[[ -n "$version" && -n "$licenses" ]] || fail "no version or license in Cargo.toml"
revision="${IMAGE_REVISION:-}"
if [[ -z "$revision" ]]; then
  revision="$(git rev-parse HEAD 2>/dev/null)" || fail "not a git checkout: set IMAGE_REVISION"
  git diff --quiet HEAD 2>/dev/null || revision+="-dirty"
fi
source_url="${IMAGE_SOURCE:-}"
if [[ -z "$source_url" ]]; then
  origin="$(git remote get-url origin 2>/dev/null || true)"
  case "$origin" in
    https://* | http://*) source_url="$(sed -E 's#^(https?://)[^/@]*@#\1#' <<<"$origin")" ;;
    git@*:*) source_url="https://$(sed -E 's#^git@([^:]+):#\1/#' <<<"$origin")" ;;
  esac
  source_url="${source_url%.git}"
fi
if [[ -z "$source_url" ]]; then
  say "warning: no repository URL (set IMAGE_SOURCE=https://...): the source label says 'unknown'"
  source_url=unknown
fi
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"

if ! cargo auditable --version >/dev/null 2>&1; then
  step "installing cargo-auditable $CARGO_AUDITABLE_VERSION (cargo install --locked)"
  cargo install --locked --quiet cargo-auditable --version "$CARGO_AUDITABLE_VERSION" ||
    fail "cannot install cargo-auditable from crates.io"
fi

step "building the release binary (cargo auditable build --release --locked -p $name --bin $name)"
# ONTAP_IPSEC_REVISION: the commit the binary reports (build.rs; ontap_ipsec_build_info).
# -p: only the operator package's features and crates, not the simulator's (a workspace member).
ONTAP_IPSEC_REVISION="$revision" cargo auditable build --release --locked -p "$name" --bin "$name"

step "laying out the root filesystem in ${rootfs#"$repo_root/"} (scripts/image-rootfs.sh)"
mkdir -p "$out_dir"
bash scripts/image-rootfs.sh "$binary" "$rootfs"

step "writing the SBOM ${sbom#"$repo_root/"}"
IMAGE_NAME="$name" IMAGE_VERSION="$version" \
  CARGO_AUDITABLE_VERSION="$(cargo auditable --version 2>/dev/null | awk '{print $NF}')" \
  python3 scripts/image-sbom.py "$binary" "$rootfs" "$sbom"

step "assembling the image with buildah (from scratch, storage driver vfs)"
work="$(mktemp -d "$out_dir/.build.XXXXXX")"
buildah_() { buildah --storage-driver vfs --root "$work/storage" --runroot "$work/run" "$@"; }
container=
cleanup() {
  [[ -z "$container" ]] || buildah_ rm "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch="$(uname -m)" ;;
esac
container="$(buildah_ from --quiet scratch)"
buildah_ copy --quiet "$container" "$rootfs/" / >/dev/null
buildah_ config \
  --os linux --arch "$arch" \
  --user 65532:65532 \
  --entrypoint '["/usr/local/bin/ontap-ipsec-operator"]' \
  --cmd '["run"]' \
  --port 8080/tcp --port 8081/tcp \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --label org.opencontainers.image.title="$name" \
  --label org.opencontainers.image.description="Mirrors NetApp ONTAP IPsec and IKE security associations into Kubernetes" \
  --label org.opencontainers.image.source="$source_url" \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.revision="$revision" \
  --label org.opencontainers.image.licenses="$licenses" \
  --created-by "make image: scripts/image-rootfs.sh, then buildah copy" \
  "$container"
buildah_ commit --quiet --format oci --timestamp "$SOURCE_DATE_EPOCH" --identity-label=false \
  --disable-compression=false --rm "$container" "oci:$work/oci:$name:$version" >/dev/null
container=

step "writing ${archive#"$repo_root/"}"
# Named for `docker load` too (it reads io.containerd.image.name), in a tar with fixed order,
# owners and times.
python3 - "$work/oci" "$archive" "docker.io/library/$name:$version" <<'EOF'
import json, os, sys, tarfile
layout, archive, docker_name = sys.argv[1:]
index_path = os.path.join(layout, "index.json")
with open(index_path) as f:
    index = json.load(f)
(manifest,) = index["manifests"]
manifest.setdefault("annotations", {})["io.containerd.image.name"] = docker_name
with open(index_path, "w") as f:
    json.dump(index, f, separators=(",", ":"))
epoch = int(os.environ["SOURCE_DATE_EPOCH"])
def normalise(info):
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = epoch
    info.mode = 0o755 if info.isdir() else 0o644
    return info
with tarfile.open(archive + ".tmp", "w", format=tarfile.PAX_FORMAT) as tar:
    for root, dirs, files in os.walk(layout):
        dirs.sort()
        rel = os.path.relpath(root, layout)
        if rel != ".":
            tar.add(root, arcname=rel, recursive=False, filter=normalise)
        for name in sorted(files):
            path = os.path.join(root, name)
            tar.add(path, arcname=os.path.normpath(os.path.join(rel, name)), filter=normalise)
os.replace(archive + ".tmp", archive)
EOF

manifest_digest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$work/oci/index.json")"
step "done"
cat <<EOF
image:    ${archive#"$repo_root/"} ($(du -h "$archive" | cut -f1), manifest $manifest_digest)
          $name:$version, revision $revision, user 65532:65532, entrypoint /usr/local/bin/$name
sbom:     ${sbom#"$repo_root/"}
push it:  skopeo copy oci-archive:${archive#"$repo_root/"} docker://registry.example.com/$name:$version
EOF
