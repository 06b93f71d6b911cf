#!/usr/bin/env bash
# deploy/build-image.sh [TAG] - builds the ringkv container image (default
# tag: $RINGKV_IMAGE, else ringkv:dev) without pulling anything.
#
# 1. builds kvnode and kvctl in build/ (configured by scripts/build.sh's
#    rules on first use; set RINGKV_BIN_DIR to use another build dir).
#    RINGKV_NO_BUILD=1 packages the binaries in RINGKV_BIN_DIR as they
#    are, without running ninja (tests/docker/run.sh under meson, whose
#    test dependencies are already built, and where a ninja run inside
#    `meson test` could relink binaries other tests are running)
# 2. collects the root filesystem (deploy/collect-rootfs.sh) into a
#    temporary build context that holds only the Dockerfile and rootfs/,
#    so the repository is never sent to the Docker engine
# 3. docker build; prints the image size
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-${RINGKV_IMAGE:-ringkv:dev}}

die() { echo "build-image: $*" >&2; exit 1; }
command -v docker >/dev/null || die "docker not found"

if [ -n "${RINGKV_BIN_DIR:-}" ]; then
  bin=$RINGKV_BIN_DIR
else
  bin=$root/build
  if [ ! -f "$bin/build.ninja" ]; then
    "$root/scripts/deps.sh"
    meson setup "$bin" -Dbuildtype=debugoptimized >/dev/null
  fi
fi
if [ -z "${RINGKV_NO_BUILD:-}" ]; then
  [ -f "$bin/build.ninja" ] || die "$bin is not a meson build dir"
  ninja -C "$bin" node/kvnode client/kvctl >/dev/null || ninja -C "$bin" node/kvnode client/kvctl
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/ringkv-image.XXXXXX")
buildlog=$(mktemp "${TMPDIR:-/tmp}/ringkv-image-log.XXXXXX")
trap 'rm -rf "$ctx" "$buildlog"' EXIT
"$root/deploy/collect-rootfs.sh" "$ctx/rootfs" "$bin" >/dev/null
mkdir "$ctx/data"
cp "$root/deploy/Dockerfile" "$ctx/Dockerfile"
printf '%s\n' rootfs/.ringkv-rootfs >"$ctx/.dockerignore"

version=$("$bin/node/kvnode" --version | awk '{ print $2 }')
# The classic builder: it needs no buildx plugin and FROM scratch needs no
# registry. BuildKit would work too where it is installed.
# Its output (and its deprecation notice) is shown only if the build fails.
if ! DOCKER_BUILDKIT=0 docker build -t "$tag" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  "$ctx" >"$buildlog" 2>&1; then
  cat "$buildlog" >&2
  die "docker build failed"
fi
bytes=$(docker image inspect -f '{{.Size}}' "$tag")
echo "build-image: $tag kvnode $version, $((bytes / 1024 / 1024)) MiB ($bytes bytes)"
