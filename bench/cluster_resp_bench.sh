#!/usr/bin/env bash
# cluster_resp_bench.sh - issue #5's side-by-side benchmark: a 3-node local
# ringkv cluster (N=3, R=2, W=2 defaults) and one redis-server, both on
# free loopback ports, driven in the same run by the same command:
#
#   redis-benchmark -p PORT -c 50 -n 200000 -d 100 -r 100000 -t set,get --csv
#
# sent to node 1's RESP port and to redis-server, ROUNDS times,
# alternating. Prints each round's throughput and p99 and the ringkv /
# redis throughput ratio. Stops everything it started, by pid.
#
# Usage: bench/cluster_resp_bench.sh [--build DIR] [--rounds N] [--requests N] [--sync MODE]
#   --build DIR     meson build directory holding node/kvnode (default: build)
#   --rounds N      alternating rounds (default: 2)
#   --requests N    redis-benchmark -n (default: 200000)
#   --sync MODE     kvnode --sync (default: periodic, kvnode's default)
# Needs redis-server, redis-benchmark, redis-cli and python3 in PATH.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=build
ROUNDS=2
REQUESTS=200000
SYNC=periodic
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --sync) SYNC=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
KVNODE="$BUILD/node/kvnode"
KVCTL="$BUILD/client/kvctl"
for tool in "$KVNODE" "$KVCTL"; do
    [ -x "$tool" ] || { echo "missing $tool (build first: ninja -C $BUILD)" >&2; exit 2; }
done
for tool in redis-server redis-benchmark redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool in PATH" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/ringkv-cluster-bench-XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Ten distinct free loopback ports (the kernel picks them; all held open
# until every one is chosen so none repeats).
read -r -a PORTS <<<"$(python3 -c '
import socket
socks = [socket.socket() for _ in range(10)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
REDIS_PORT=${PORTS[0]}

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" --logfile "$WORK/redis.log" &
PIDS+=($!)

NATIVE=() RESP=()
for i in 1 2 3; do
    NATIVE[$i]=${PORTS[$((3 * i - 2))]}
    RESP[$i]=${PORTS[$((3 * i - 1))]}
    http=${PORTS[$((3 * i))]}
    mkdir -p "$WORK/n$i"
    "$KVNODE" --node-id "n$i" --data-dir "$WORK/n$i" --listen "127.0.0.1:${NATIVE[$i]}" \
        --resp "127.0.0.1:${RESP[$i]}" --http "127.0.0.1:$http" --seeds "127.0.0.1:${NATIVE[1]}" \
        --n-replicas 3 --sync "$SYNC" --log-level warn >"$WORK/n$i.log" 2>&1 &
    PIDS+=($!)
done

# Waits (up to 60 s) until redis answers and every node's ring has 3 members.
formed() {
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || return 1
    for i in 1 2 3; do
        out=$("$KVCTL" --host "127.0.0.1:${NATIVE[$i]}" ring --json 2>/dev/null) || return 1
        [ "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["nodes"]))' <<<"$out")" = 3 ] || return 1
    done
}
for _ in $(seq 600); do formed && break; sleep 0.1; done
formed || { echo "cluster did not form in 60 s; logs in $WORK" >&2; tail -n 20 "$WORK"/n*.log >&2; exit 1; }

# One run: prints "set_rps set_p99 get_rps get_p99" from redis-benchmark --csv.
run_bench() {
    redis-benchmark -p "$1" -c 50 -n "$REQUESTS" -d 100 -r 100000 -t set,get --csv |
        python3 -c '
import csv, sys
rows = {r[0]: r for r in csv.reader(sys.stdin) if r and r[0] in ("SET", "GET")}
print(rows["SET"][1], rows["SET"][6], rows["GET"][1], rows["GET"][6])'
}

echo "# redis-benchmark -c 50 -n $REQUESTS -d 100 -r 100000 -t set,get; ringkv: 3 nodes, N=3 R=2 W=2, --sync $SYNC"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-8s %12s %10s %12s %10s\n' round target SET/s "p99 ms" GET/s "p99 ms"
for round in $(seq "$ROUNDS"); do
    read -r rs rsp rg rgp <<<"$(run_bench "$REDIS_PORT")"
    read -r ks ksp kg kgp <<<"$(run_bench "${RESP[1]}")"
    printf '%-6s %-8s %12s %10s %12s %10s\n' "$round" redis "$rs" "$rsp" "$rg" "$rgp"
    printf '%-6s %-8s %12s %10s %12s %10s\n' "$round" ringkv "$ks" "$ksp" "$kg" "$kgp"
    python3 -c "print('%-6s ratio    SET %.2fx  GET %.2fx' % ('$round', $ks / $rs, $kg / $rg))"
done
echo "# goal (issue #5): ratio >= 0.65x and ringkv p99 < 5 ms"
