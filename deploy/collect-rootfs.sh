#!/usr/bin/env bash
# deploy/collect-rootfs.sh OUT_DIR [BIN_DIR] - the whole filesystem of the
# ringkv container image, collected from this machine (nothing is pulled).
#
#   OUT_DIR   created; must be absent, empty, or a rootfs this script made
#             before (it carries .ringkv-rootfs and is then replaced)
#   BIN_DIR   a meson build dir holding node/kvnode and client/kvctl
#             (default: $RINGKV_BIN_DIR, else build/ in the repo)
#
# What goes in, and why nothing else is needed:
#   /usr/bin/kvnode, /usr/bin/kvctl   stripped copies (debug info stays in BIN_DIR)
#   every library `ldd` lists for them, at the path ldd resolved, plus the
#       dynamic loader at the binaries' PT_INTERP path. A scratch image has
#       no /etc/ld.so.cache; glibc then searches its built-in trusted
#       directories, which on Debian include /lib/x86_64-linux-gnu.
#   /etc/nsswitch.conf   "hosts: files dns". Since glibc 2.34 the files and
#       dns NSS services are built into libc.so.6, so no libnss_*.so is
#       dlopen()ed; Docker bind-mounts /etc/hosts and /etc/resolv.conf
#       (its embedded DNS at 127.0.0.11 on user networks), which is how the
#       compose service names resolve. An older glibc needs libnss_files /
#       libnss_dns: they are copied when the host glibc predates 2.34.
#   /etc/passwd, /etc/group   root and ringkv (uid/gid 10001, home /data)
#   /tmp                      empty, mode 1777
# /data is deliberately absent: COPY resets owners to root and a scratch
# image has no shell to chown, so the Dockerfile creates /data owned by
# ringkv with COPY --chown of an empty directory (a --chown COPY into an
# existing /data would only chown its contents, not /data itself).
# No CA bundle: kvnode verifies peers only against --tls-ca, never the
# system store. No shell, no libgcc_s (nothing calls pthread_cancel).
set -euo pipefail

RINGKV_UID=10001
MARKER=.ringkv-rootfs

die() { echo "collect-rootfs: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] && [ "$1" != -h ] && [ "$1" != --help ] || {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
bin=${2:-${RINGKV_BIN_DIR:-$root/build}}

kvnode=$bin/node/kvnode
kvctl=$bin/client/kvctl
for b in "$kvnode" "$kvctl"; do
  [ -x "$b" ] || die "missing $b (build first: scripts/build.sh)"
done
for tool in ldd strip readelf; do
  command -v "$tool" >/dev/null || die "needs $tool (binutils, libc-bin)"
done

if [ -e "$out" ]; then
  if [ -f "$out/$MARKER" ]; then
    rm -rf "$out"
  elif [ -n "$(ls -A "$out")" ]; then
    die "$out exists, is not empty and was not made by this script; refusing to touch it"
  fi
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
touch "$out/$MARKER"

# Copies host file $1 to the same path under $out, dereferencing symlinks
# (the image gets the real bytes under the name the loader asks for).
copy_file() {
  local dest=$out$1
  [ -e "$dest" ] && return 0
  mkdir -p "$(dirname "$dest")"
  cp -L "$1" "$dest"
  chmod 0755 "$dest"
}

# Libraries from ldd: "name => /path (0x...)" and "/path (0x...)" lines.
# "not found" means the binary cannot run here, let alone in the image.
copy_libs() {
  local listing
  listing=$(ldd "$1") || die "ldd $1 failed (is it a dynamic executable?)"
  if grep -q 'not found' <<<"$listing"; then
    die "$1 has unresolved libraries:"$'\n'"$listing"
  fi
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$listing" |
    while read -r lib; do copy_file "$lib"; done
  local interp
  interp=$(readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  [ -n "$interp" ] || die "$1 has no program interpreter"
  copy_file "$interp"
}

mkdir -p "$out/usr/bin"
for b in "$kvnode" "$kvctl"; do
  strip --strip-unneeded -o "$out/usr/bin/$(basename "$b")" "$b"
  copy_libs "$b"
done

# glibc before 2.34 loads the files and dns NSS services as modules.
glibc=$(ldd --version | sed -n '1s/.* \([0-9]*\.[0-9]*\)$/\1/p')
if [ -n "$glibc" ] && [ "$(printf '%s\n2.34\n' "$glibc" | sort -V | head -1)" != 2.34 ]; then
  libc=$(ldd "$kvnode" | awk '$1 ~ /^libc\.so/ { print $3 }')
  for m in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2; do
    copy_file "$(dirname "$libc")/$m"
  done
fi

mkdir -p "$out/etc" "$out/tmp"
chmod 1777 "$out/tmp"
cat >"$out/etc/nsswitch.conf" <<'EOF'
passwd: files
group:  files
hosts:  files dns
EOF
cat >"$out/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
ringkv:x:$RINGKV_UID:$RINGKV_UID:ringkv:/data:/sbin/nologin
EOF
cat >"$out/etc/group" <<EOF
root:x:0:
ringkv:x:$RINGKV_UID:
EOF
chmod 0644 "$out"/etc/*

echo "collect-rootfs: $(du -sh --exclude="$MARKER" "$out" | cut -f1) in $out"
