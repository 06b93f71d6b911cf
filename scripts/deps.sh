#!/usr/bin/env bash
# Installs the Debian packages ringkv needs to build, test and benchmark.
# Runs apt-get only when something is missing, so it is cheap to repeat.
#   scripts/deps.sh          everything (build, tests, fuzzing, benchmarks)
#   scripts/deps.sh build    only what building kvnode and kvctl and talking
#                            to a cluster need (deploy/cluster.sh up)
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config python3      # build
  libevent-dev libprotobuf-c-dev protobuf-c-compiler        # runtime libs, codegen
  libssl-dev openssl                                        # TLS
  check                                                     # unit tests (meson needs it to configure)
  redis-tools                                               # redis-cli
  curl                                                      # /health checks (deploy/local-cluster.sh)
)
if [ "${1:-}" != build ]; then
  PKGS+=(
    clang libclang-rt-14-dev                                # libFuzzer targets
    redis-server                                            # the redis baseline of the benchmarks
    libleveldb-dev librocksdb-dev                           # engine_bench peers
    procps iproute2                                         # cluster tests
  )
fi

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
