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
#       directories, which on Debian include /lib/x86_64-linux-gnu and
#       /usr/lib (where libraries from anywhere else are put).
#   /etc/nsswitch.conf   "hosts: files dns". Since glibc 2.34 the files and
#       dns NSS services are built into libc.so.6, so no libnss_*.so is
#       dlopen()ed; Docker bind-mounts /etc/hosts and /etc/resolv.conf
#       (its embedded DNS at 127.0.0.11 on user networks), which is how the
#       compose service names resolve (checked by tests/docker/run.sh; with
#       glibc 2.36 it works even without this file, by glibc's defaults).
#       An older glibc loads libnss_files / libnss_dns as modules: they are
#       copied when the host glibc predates 2.34 (a path not exercised on
#       Debian 12).
#   /etc/passwd, /etc/group   root and ringkv (uid/gid 10001, home /data)
#   /tmp                      empty, mode 1777
#   OPENSSLDIR/cert.pem      the host's CA bundle (~220 KB), OpenSSL's default
#       verify file: `kvctl --tls` checks nodes against the system store.
#       kvnode never uses it (it verifies peers against --tls-ca only).
# No shell, no libgcc_s (nothing calls pthread_cancel).
# /data is deliberately absent: COPY resets owners to root and a scratch
# image has no shell to chown, so the Dockerfile creates /data owned by
# ringkv with COPY --chown of an empty directory (a --chown COPY into an
# existing /data would only chown its contents, not /data itself).
set -euo pipefail

RINGKV_UID=10001
MARKER=.ringkv-rootfs

die() { echo "collect-rootfs: $*" >&2; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
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

# A library found outside the loader's default directories (one of ours
# through the build-dir RUNPATH $ORIGIN/ of kvctl, or one from
# /usr/local/lib through ld.so.conf, which a scratch image lacks) goes to
# /usr/lib, which the loader always searches; a stale RUNPATH finds nothing.
copy_project_lib() {
  local dest
  dest=$out/usr/lib/$(basename "$1")
  [ -e "$dest" ] && return 0
  mkdir -p "$out/usr/lib"
  strip --strip-unneeded -o "$dest" "$1"
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
    while read -r lib; do
      case $lib in
        /lib/* | /lib64/* | /usr/lib/* | /usr/lib64/*) copy_file "$lib" ;;
        *) copy_project_lib "$lib" ;;
      esac
    done
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

# OpenSSL opens <OPENSSLDIR>/cert.pem for SSL_CTX_set_default_verify_paths;
# on Debian that is a symlink into /etc/ssl/certs, copied here as a file.
if command -v openssl >/dev/null; then
  openssldir=$(openssl version -d | sed -n 's/^OPENSSLDIR: "\(.*\)"$/\1/p')
  if [ -n "$openssldir" ] && [ -r "$openssldir/cert.pem" ]; then
    mkdir -p "$out$openssldir"
    cp -L "$openssldir/cert.pem" "$out$openssldir/cert.pem"
    chmod 0644 "$out$openssldir/cert.pem"
  else
    echo "collect-rootfs: no CA bundle at $openssldir/cert.pem; kvctl --tls will not verify in the image" >&2
  fi
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
