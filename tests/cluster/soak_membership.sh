#!/usr/bin/env bash
# tests/cluster/soak_membership.sh [--duration-s S] [--nodes N] [--connections C]
#
# No false death under load: starts N (default 5) kvnodes on loopback,
# waits for one ring, runs kvbench (YCSB a) against every node for S
# seconds (default 300) and fails if any node ever marks any member dead.
# Meson runs it for 30 s in suite 'cluster'; the 5-minute run of issue #4:
#   tests/cluster/soak_membership.sh --duration-s 300
# Binaries: $KVNODE, $KVCTL, $KVBENCH, else under $RINGKV_BUILD_DIR (default build/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${RINGKV_BUILD_DIR:-$here/../../build}
export KVNODE=${KVNODE:-$build/node/kvnode}
export KVCTL=${KVCTL:-$build/client/kvctl}
export KVBENCH=${KVBENCH:-$build/bench/kvbench}
export PYTHONDONTWRITEBYTECODE=1
for b in "$KVNODE" "$KVCTL" "$KVBENCH"; do
  [ -x "$b" ] || { echo "soak_membership: $b is not built (set RINGKV_BUILD_DIR)" >&2; exit 2; }
done
exec python3 "$here/soak_membership.py" "$@"
