#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, etcd, kubectl and helm from Go modules,
# caching the binaries outside the work tree, then links them into target/k8s/bin. The control
# plane and helm are cached apart, each keyed by its own inputs (Go, flags, recipe, go.mod and
# go.sum), so changing how helm is built rebuilds helm alone, in about a minute, and never the
# control plane (tens of minutes). A warm run (nothing changed) takes well under a second.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin_dir="$root/target/k8s/bin"
cache_root="${ONTAP_IPSEC_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ontap-ipsec-operator/k8s}"

k8s_version="$(cd "$here/control-plane" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
helm_version="$(cd "$here/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v3)"
# The Kubernetes version helm assumes without a cluster (`helm template`, `helm lint`): upstream's
# Makefile derives it from the client-go helm is built with (v0.X.Y is Kubernetes 1.X). Without it
# helm assumes v1.20 and refuses the chart's kubeVersion.
helm_client_go="$(cd "$here/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
helm_k8s_major="$(( $(echo "${helm_client_go#v}" | cut -d. -f1) + 1 ))"
helm_k8s_minor="$(echo "$helm_client_go" | cut -d. -f2)"
[[ -n "$k8s_version" && -n "$helm_version" && -n "$helm_k8s_minor" ]] ||
  { echo "cannot read versions from go.mod" >&2; exit 1; }
pkg_version="k8s.io/component-base/version"
client_version="k8s.io/client-go/pkg/version"
ldflags="-s -w"
for pkg in "$pkg_version" "$client_version"; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=$helm_k8s_major -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
build_flags=(-trimpath -pgo=off)
export CGO_ENABLED=0

control_plane_binaries=(etcd kube-apiserver kube-controller-manager kubectl)
helm_binaries=(helm)

build_control_plane() { # into $1
  (cd "$here/control-plane" &&
    go build "${build_flags[@]}" -ldflags "$ldflags" -o "$1/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kubectl &&
    go build "${build_flags[@]}" -ldflags "-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3)
}

build_helm() { # into $1
  (cd "$here/helm" &&
    go build "${build_flags[@]}" -ldflags "$helm_ldflags" -o "$1/helm" helm.sh/helm/v3/cmd/helm)
}

# key RECIPE LDFLAGS MODULE_DIR: a hash of everything a build's output depends on.
key() {
  { go version; echo "$2 ${build_flags[*]}"; declare -f "$1"; cat "$here/$3/go.mod" "$here/$3/go.sum"; } |
    sha256sum | cut -c1-16
}

# Until the control plane and helm were keyed apart, one directory $cache_root/<key> held all
# five binaries, its key hashing build.sh itself. Such a control plane build from the same inputs
# is reused (hard links) rather than rebuilt: adopt_legacy_control_plane DIR.
adopt_legacy_control_plane() {
  local revision legacy b
  git -C "$root" rev-parse --git-dir >/dev/null 2>&1 || return 1
  for revision in $(git -C "$root" log --format=%H -- tests/k8s/build.sh); do
    legacy="$cache_root/$( { go version; echo "$ldflags ${build_flags[*]}"
      git -C "$root" show "$revision:tests/k8s/build.sh"
      cat "$here/control-plane/go.mod" "$here/control-plane/go.sum" \
        "$here/helm/go.mod" "$here/helm/go.sum"; } | sha256sum | cut -c1-16)"
    for b in "${control_plane_binaries[@]}"; do [[ -x "$legacy/$b" ]] || continue 2; done
    for b in "${control_plane_binaries[@]}"; do ln -f "$legacy/$b" "$1/$b" 2>/dev/null || cp "$legacy/$b" "$1/$b"; done
    echo "reusing the control plane built in $legacy"
    return 0
  done
  return 1
}

# cached NAME RECIPE LDFLAGS MODULE_DIR BINARY...: builds into $cache_root/NAME/<key> unless every
# binary is there already; sets cache_dir.
cached() {
  local name="$1" recipe="$2" flags="$3" module="$4" b start staging
  shift 4
  cache_dir="$cache_root/$name/$(key "$recipe" "$flags" "$module")"
  local complete=true
  for b in "$@"; do [[ -x "$cache_dir/$b" ]] || complete=false; done
  if $complete; then
    echo "$name: cached in $cache_dir"
    return
  fi
  staging="$cache_dir.partial"
  rm -rf "$staging"
  mkdir -p "$staging"
  start=$(date +%s)
  if ! { [[ "$name" == control-plane ]] && adopt_legacy_control_plane "$staging"; }; then
    echo "$name: building into $cache_dir (cold: tens of minutes for the control plane on 2 cores, about a minute for helm)"
    "$recipe" "$staging"
  fi
  rm -rf "$cache_dir"
  mv "$staging" "$cache_dir"
  echo "$name: ready in $(( $(date +%s) - start ))s"
}

mkdir -p "$bin_dir"
cached control-plane build_control_plane "$ldflags" control-plane "${control_plane_binaries[@]}"
for b in "${control_plane_binaries[@]}"; do ln -sfn "$cache_dir/$b" "$bin_dir/$b"; done
echo "control plane $k8s_version in $cache_dir"
cached helm build_helm "$helm_ldflags" helm "${helm_binaries[@]}"
for b in "${helm_binaries[@]}"; do ln -sfn "$cache_dir/$b" "$bin_dir/$b"; done
echo "helm $helm_version (Kubernetes $helm_k8s_major.$helm_k8s_minor without a cluster) in $cache_dir"
echo "binaries in $bin_dir"
