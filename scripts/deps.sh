#!/usr/bin/env bash
# Installs the Debian packages ringkv needs to build, test and benchmark.
# Runs apt-get only when something is missing, so it is cheap to repeat.
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config python3      # build
  libevent-dev libprotobuf-c-dev protobuf-c-compiler        # runtime libs, codegen
  libssl-dev openssl                                        # TLS
  check                                                     # unit tests
  clang libclang-rt-14-dev                                  # libFuzzer targets
  redis-tools redis-server                                  # redis-cli / redis-benchmark, peer
  libleveldb-dev librocksdb-dev                             # engine_bench peers
  curl procps iproute2                                      # cluster tests
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
