#!/usr/bin/env bash
# deploy/local-cluster.sh - a ringkv cluster of local kvnode processes.
#
#   deploy/local-cluster.sh up [N]     build if needed, start N nodes (default 3)
#   deploy/local-cluster.sh down       stop the nodes this script started
#   deploy/local-cluster.sh status     show each node's pid and health
#
# Node i (1..N) listens on 127.0.0.1: native 7100+i, RESP 6400+i, HTTP 8100+i,
# with data in $RINGKV_LOCAL_DIR/nodeI (default .local-cluster/ in the repo)
# and its log in nodeI.log there. Every node gets node 1 as its seed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${RINGKV_LOCAL_DIR:-$root/.local-cluster}
bin=${RINGKV_BIN_DIR:-$root/build}

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

health() { curl -fsS --max-time 1 "http://127.0.0.1:$((8100 + $1))/health" >/dev/null 2>&1; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

up() {
  local n=${1:-3}
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 20)) || { echo "N must be 1..20" >&2; exit 2; }
  if [ ! -x "$bin/node/kvnode" ]; then
    "$root/scripts/deps.sh"
    "$root/scripts/build.sh" >/dev/null
  fi
  mkdir -p "$dir"
  for i in $(seq 1 "$n"); do
    if [ -f "$dir/node$i.pid" ] && kill -0 "$(cat "$dir/node$i.pid")" 2>/dev/null; then
      echo "node$i already running (pid $(cat "$dir/node$i.pid"))"
      continue
    fi
    # Another listener on a node port (the compose cluster publishes the
    # same ones) would also answer the health check below: refuse early.
    for p in $((7100 + i)) $((6400 + i)) $((8100 + i)); do
      if port_busy "$p"; then
        echo "node$i: 127.0.0.1:$p is already in use (the compose cluster? docker-compose -f deploy/docker-compose.yml down)" >&2
        exit 1
      fi
    done
    mkdir -p "$dir/node$i"
    "$bin/node/kvnode" --node-id "node$i" --data-dir "$dir/node$i" \
      --listen "127.0.0.1:$((7100 + i))" --resp "127.0.0.1:$((6400 + i))" \
      --http "127.0.0.1:$((8100 + i))" --seeds "127.0.0.1:7101" \
      >>"$dir/node$i.log" 2>&1 &
    echo $! >"$dir/node$i.pid"
  done
  for i in $(seq 1 "$n"); do
    for _ in $(seq 1 100); do
      health "$i" && break
      kill -0 "$(cat "$dir/node$i.pid")" 2>/dev/null || { echo "node$i exited; see $dir/node$i.log" >&2; exit 1; }
      sleep 0.1
    done
    health "$i" || { echo "node$i did not become healthy; see $dir/node$i.log" >&2; exit 1; }
  done
  echo "$n nodes up. Try:"
  echo "  $bin/client/kvctl --host 127.0.0.1:7101 ring"
  echo "  redis-cli -p 6401 SET hello world && redis-cli -p 6402 GET hello"
  echo "Stop with: deploy/local-cluster.sh down"
}

down() {
  shopt -s nullglob
  local pids=()
  for f in "$dir"/node*.pid; do
    local pid
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" && pids+=("$pid"); fi
    rm -f "$f"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  done
  echo "stopped ${#pids[@]} node(s); data kept in $dir (remove it to start empty)"
}

status() {
  shopt -s nullglob
  for f in "$dir"/node*.pid; do
    local name i pid
    name=$(basename "$f" .pid); i=${name#node}; pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      if health "$i"; then echo "$name pid $pid healthy"; else echo "$name pid $pid not answering /health"; fi
    else
      echo "$name not running"
    fi
  done
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  down) down ;;
  status) status ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
