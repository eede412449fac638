#!/usr/bin/env bash
# image-rootfs.sh BINARY DEST: lays out the operator image's whole root filesystem in DEST (which
# is replaced). The same script runs in the Dockerfile's builder stage and in `make image`, so both
# images have the same files:
#
#   /usr/local/bin/ontap-ipsec-operator     the binary (the entrypoint)
#   the shared libraries it is linked to    at the paths ldd reports (glibc, libm, libgcc_s, ld.so)
#   /etc/ssl/certs/ca-certificates.crt      this machine's CA bundle (the operating system's roots)
#   /etc/passwd, /etc/group                 root, nonroot (65532) and nobody; no login shell
#   /etc/nsswitch.conf                      hosts from /etc/hosts (the kubelet's) before DNS
#   /var/lib/dpkg/status.d/PACKAGE          the Debian packages the libraries and CA bundle come
#                                           from, where image scanners look for them (as distroless)
#   /usr/share/doc/PACKAGE/copyright        their licences
#   /tmp                                    world-writable, sticky
#
# Nothing else: no shell, no package manager, no setuid file. Everything is owned by root, and
# every mtime is SOURCE_DATE_EPOCH (default: 0), so the same binary gives the same layer.
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 BINARY DEST" >&2
  exit 2
fi
binary="$1"
dest="$2"
epoch="${SOURCE_DATE_EPOCH:-0}"
ca_bundle=/etc/ssl/certs/ca-certificates.crt

fail() {
  echo "image-rootfs.sh: $*" >&2
  exit 1
}
[[ -x "$binary" ]] || fail "$binary is not an executable file"
[[ -s "$ca_bundle" ]] || fail "$ca_bundle is missing or empty (apt-get install ca-certificates)"
for tool in ldd dpkg-query; do
  command -v "$tool" >/dev/null || fail "$tool is required (a Debian-based builder)"
done
[[ "$dest" != / && -n "$dest" ]] || fail "refusing to replace '$dest'"

rm -rf "$dest"
mkdir -p "$dest"
umask 022

install -D -m 0755 "$binary" "$dest/usr/local/bin/ontap-ipsec-operator"

# Every library the dynamic loader maps, and the loader itself, as real files at the paths the
# binary asks for (a symlink on this machine, e.g. /lib64/ld-linux-x86-64.so.2, is copied as its
# target's content).
libraries=()
while read -r line; do
  case "$line" in
    *"not found"*) fail "ldd: $line" ;;
    *"=> /"*) path="${line#*=> }" ;;
    /*) path="$line" ;;
    *) continue ;; # linux-vdso.so.1 and the like: provided by the kernel
  esac
  libraries+=("${path%% (*}")
done < <(ldd "$binary" || fail "ldd failed on $binary (a static binary needs no libraries: drop this step)")
((${#libraries[@]})) || fail "ldd listed no libraries for $binary"
for library in "${libraries[@]}"; do
  install -D -m 0755 "$(readlink -f "$library")" "$dest$library"
done

install -D -m 0644 "$ca_bundle" "$dest$ca_bundle"

install -d -m 0755 "$dest/etc"
cat >"$dest/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$dest/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
cat >"$dest/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
chmod 0644 "$dest/etc/passwd" "$dest/etc/group" "$dest/etc/nsswitch.conf"

# The Debian packages behind what was copied: the libraries' owners, and ca-certificates, which
# generates the bundle.
packages=(ca-certificates)
for library in "${libraries[@]}"; do
  owner="$(dpkg-query --search "$library" 2>/dev/null | head -n 1)" ||
    fail "no Debian package owns $library"
  [[ -n "$owner" ]] || fail "no Debian package owns $library"
  packages+=("${owner%%: *}")
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
install -d -m 0755 "$dest/var/lib/dpkg/status.d"
for package in "${packages[@]}"; do
  name="${package%%:*}"
  dpkg-query --status "$package" | grep -v '^Conffiles:\|^ /' >"$dest/var/lib/dpkg/status.d/$name"
  chmod 0644 "$dest/var/lib/dpkg/status.d/$name"
  copyright="/usr/share/doc/$name/copyright"
  if [[ -f "$copyright" ]]; then
    install -D -m 0644 "$copyright" "$dest$copyright"
  fi
done

install -d -m 1777 "$dest/tmp"

if ((EUID == 0)); then chown -R 0:0 "$dest"; fi
find "$dest" -exec touch -h -d "@$epoch" {} +
