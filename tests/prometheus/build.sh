#!/usr/bin/env bash
# Builds promtool from the Prometheus Go module pinned in tests/prometheus/go.mod, caching the
# binary outside the work tree keyed by the inputs (like tests/k8s/build.sh), then links it into
# target/prometheus/bin. promtool runs the PrometheusRule unit tests (`promtool test rules`, the
# real PromQL engine), `promtool check rules` and `promtool check metrics`.
# A warm run takes about a second; a cold one a few minutes on 2 cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin_dir="$root/target/prometheus/bin"
cache_root="${ONTAP_IPSEC_PROMTOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ontap-ipsec-operator/promtool}"

# Module v0.3MM.P is Prometheus 3.MM.P.
module_version="$(cd "$here" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)"
[[ "$module_version" =~ ^v0\.3([0-9][0-9])\.([0-9]+)$ ]] ||
  { echo "unexpected github.com/prometheus/prometheus version '$module_version'" >&2; exit 1; }
version="3.$((10#${BASH_REMATCH[1]})).${BASH_REMATCH[2]}"
ldflags="-s -w -X github.com/prometheus/common/version.Version=$version"
ldflags+=" -X github.com/prometheus/common/version.Revision=$module_version"
ldflags+=" -X github.com/prometheus/common/version.Branch=module"
# No service discovery plugins: promtool needs none of them for rules and metrics, and they are
# most of the build.
build_flags=(-trimpath -pgo=off -tags remove_all_sd)

key="$( { go version; echo "$ldflags ${build_flags[*]}"; cat "$here/build.sh" "$here/go.mod" \
  "$here/go.sum"; } | sha256sum | cut -c1-16)"
cache_dir="$cache_root/$key"

if [[ -x "$cache_dir/promtool" ]]; then
  echo "promtool $version: cached in $cache_dir"
else
  echo "building promtool $version into $cache_dir"
  staging="$cache_dir.partial"
  rm -rf "$staging"
  mkdir -p "$staging"
  start=$(date +%s)
  (cd "$here" && CGO_ENABLED=0 go build "${build_flags[@]}" -ldflags "$ldflags" \
    -o "$staging/promtool" github.com/prometheus/prometheus/cmd/promtool)
  rm -rf "$cache_dir"
  mv "$staging" "$cache_dir"
  echo "built in $(( $(date +%s) - start ))s"
fi

mkdir -p "$bin_dir"
ln -sfn "$cache_dir/promtool" "$bin_dir/promtool"
echo "promtool in $bin_dir"
