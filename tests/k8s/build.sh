#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, etcd, kubectl and helm from Go modules,
# caching the binaries outside the work tree keyed by the inputs, then links them into
# target/k8s/bin. A warm run (same go.sum files, same flags, same Go) takes seconds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin_dir="$root/target/k8s/bin"
cache_root="${ONTAP_IPSEC_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ontap-ipsec-operator/k8s}"

k8s_version="$(cd "$here/control-plane" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
helm_version="$(cd "$here/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v3)"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
[[ -n "$k8s_version" && -n "$helm_version" ]] || { echo "cannot read versions from go.mod" >&2; exit 1; }
pkg_version="k8s.io/component-base/version"
client_version="k8s.io/client-go/pkg/version"
ldflags="-s -w"
for pkg in "$pkg_version" "$client_version"; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
build_flags=(-trimpath -pgo=off)

key="$( { go version; echo "$ldflags ${build_flags[*]}"; cat "$here/build.sh" \
  "$here/control-plane/go.mod" "$here/control-plane/go.sum" \
  "$here/helm/go.mod" "$here/helm/go.sum"; } | sha256sum | cut -c1-16)"
cache_dir="$cache_root/$key"
binaries=(etcd kube-apiserver kube-controller-manager kubectl helm)

complete() {
  for b in "${binaries[@]}"; do [[ -x "$cache_dir/$b" ]] || return 1; done
}

if complete; then
  echo "k8s binaries $k8s_version: cached in $cache_dir"
else
  echo "building k8s binaries $k8s_version into $cache_dir (cold build: tens of minutes on 2 cores)"
  staging="$cache_dir.partial"
  rm -rf "$staging"
  mkdir -p "$staging"
  start=$(date +%s)
  export CGO_ENABLED=0
  (cd "$here/control-plane" &&
    go build "${build_flags[@]}" -ldflags "$ldflags" -o "$staging/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kubectl &&
    go build "${build_flags[@]}" -ldflags "-s -w" -o "$staging/etcd" go.etcd.io/etcd/server/v3)
  (cd "$here/helm" &&
    go build "${build_flags[@]}" -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version" \
      -o "$staging/helm" helm.sh/helm/v3/cmd/helm)
  rm -rf "$cache_dir"
  mv "$staging" "$cache_dir"
  echo "built in $(( $(date +%s) - start ))s"
fi

mkdir -p "$bin_dir"
for b in "${binaries[@]}"; do
  ln -sfn "$cache_dir/$b" "$bin_dir/$b"
done
echo "binaries in $bin_dir"
