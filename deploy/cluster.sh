#!/usr/bin/env bash
# deploy/cluster.sh - one command from a fresh checkout to a running cluster.
#
#   deploy/cluster.sh up [--local | --docker] [N]
#       installs the build packages (scripts/deps.sh build), builds kvnode
#       and kvctl in build/, starts N nodes (default 3) and waits until
#       they answer and share one ring, then prints how to reach them
#   deploy/cluster.sh down
#       stops the cluster that `up` started and deletes it with its data
#       (compose: containers, network, volumes and the ringkv:dev image;
#       local: processes and .local-cluster/)
#   deploy/cluster.sh status
#
# Which cluster: the compose cluster (deploy/docker-compose.yml, image
# built by deploy/build-image.sh) when a Docker engine answers `docker info`
# and docker-compose (or `docker compose`) is installed; otherwise local
# kvnode processes (deploy/local-cluster.sh). --local / --docker, or
# RINGKV_CLUSTER_MODE=local|docker, choose explicitly. The compose cluster
# runs 3 or 5 nodes; the local one 1 to 20.
#
# Either way node i (from 1) listens on 127.0.0.1 with native port 7100+i
# (kvctl, SDK), RESP port 6400+i (redis-cli) and HTTP port 8100+i
# (/health, /metrics). `down` leaves only build/ behind.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=$root/.cluster          # "MODE N" of the cluster `up` started
bin=$root/build
kvctl=$bin/client/kvctl
RING_WAIT_S=60
HEALTH_WAIT_S=60

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "cluster: $*" >&2; exit 1; }
say() { echo "cluster: $*"; }

compose_cmd=()
find_compose() {
  if command -v docker-compose >/dev/null; then
    compose_cmd=(docker-compose)
  elif command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
  fi
}
docker_answers() { command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; }

# The compose files for N nodes, as COMPOSE_FILE (':'-separated).
compose_files() {
  case $1 in
    3) echo "$root/deploy/docker-compose.yml" ;;
    5) echo "$root/deploy/docker-compose.yml:$root/deploy/docker-compose.5.yml" ;;
    *) die "the compose cluster has 3 or 5 nodes, not $1 (use --local for other sizes)" ;;
  esac
}
compose() { COMPOSE_FILE=$(compose_files "$1") "${compose_cmd[@]}" "${@:2}"; }

build() {
  "$root/scripts/deps.sh" build
  if [ ! -f "$bin/build.ninja" ]; then
    say "configuring build/"
    meson setup "$bin" -Dbuildtype=debugoptimized >/dev/null
  fi
  say "building kvnode and kvctl"
  ninja -C "$bin" node/kvnode client/kvctl >/dev/null || ninja -C "$bin" node/kvnode client/kvctl
}

# Every compose node healthy (its healthcheck: kvctl ping inside).
wait_compose_healthy() {
  local n=$1 i cid status deadline=$((SECONDS + HEALTH_WAIT_S))
  for i in $(seq 1 "$n"); do
    cid=$(compose "$n" ps -q "node$i")
    until status=$(docker inspect -f '{{.State.Health.Status}}' "$cid") && [ "$status" = healthy ]; do
      ((SECONDS < deadline)) || die "node$i is '$status' after ${HEALTH_WAIT_S}s; see: docker logs $cid"
      sleep 1
    done
  done
}

# node1's ring names all N nodes, each owning partitions (auto-join
# commits it about 2 s after membership settles).
wait_ring() {
  local n=$1 owners deadline=$((SECONDS + RING_WAIT_S))
  until owners=$("$kvctl" --host 127.0.0.1:7101 --timeout 2000 ring 2>/dev/null |
                 awk '$1 ~ /^node[0-9]+$/ && $3 > 0' | wc -l) && ((owners == n)); do
    ((SECONDS < deadline)) || die "the ring does not hold all $n nodes after ${RING_WAIT_S}s (kvctl --host 127.0.0.1:7101 ring)"
    sleep 1
  done
}

up() {
  local mode=${RINGKV_CLUSTER_MODE:-} n=3
  while (($#)); do
    case $1 in
      --local) mode=local ;;
      --docker) mode=docker ;;
      [0-9]*) n=$1 ;;
      *) usage >&2; exit 2 ;;
    esac
    shift
  done
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 20)) || die "N must be 1..20"
  find_compose
  if [ -z "$mode" ]; then
    if docker_answers && ((${#compose_cmd[@]})); then mode=docker; else mode=local; fi
    say "mode: $mode (a Docker engine $([ $mode = docker ] && echo answers || echo 'and docker-compose are not both available'); --local / --docker to choose)"
  fi
  case $mode in
    local | docker) ;;
    *) die "RINGKV_CLUSTER_MODE must be local or docker, not '$mode'" ;;
  esac
  if [ -f "$state" ]; then
    read -r was_mode was_n <"$state"
    [ "$was_mode $was_n" = "$mode $n" ] || die "a $was_mode cluster of $was_n nodes is up; stop it first: deploy/cluster.sh down"
  fi

  build
  if [ "$mode" = docker ]; then
    ((${#compose_cmd[@]})) || die "docker-compose (or the docker compose plugin) is not installed"
    docker_answers || die "no Docker engine answers (docker info); try --local"
    compose_files "$n" >/dev/null
    RINGKV_BIN_DIR=$bin RINGKV_NO_BUILD=1 "$root/deploy/build-image.sh" ringkv:dev
    echo "docker $n" >"$state"
    compose "$n" up -d
    wait_compose_healthy "$n"
  else
    echo "local $n" >"$state"
    RINGKV_BIN_DIR=$bin "$root/deploy/local-cluster.sh" up "$n" >/dev/null
  fi
  wait_ring "$n"

  local o=$((n >= 2 ? 2 : 1))   # read through another node than the writer
  cat <<EOF

ringkv: $n nodes up ($mode). Node i listens on 127.0.0.1: native 7100+i, RESP 6400+i, HTTP 8100+i.

  export PATH=$bin/client:\$PATH
  kvctl --host 127.0.0.1:7101 ring
  kvctl --host 127.0.0.1:7101 put greeting hello
  kvctl --host 127.0.0.1:$((7100 + o)) get greeting
  redis-cli -p 6401 SET hello world
  redis-cli -p $((6400 + o)) GET hello
  curl -s 127.0.0.1:8101/health

Stop it and delete its data: deploy/cluster.sh down
EOF
}

down() {
  local mode n
  if [ -f "$state" ]; then
    read -r mode n <"$state"
  elif compgen -G "$root/.local-cluster/node*.pid" >/dev/null; then
    mode=local
  else
    say "no cluster started by deploy/cluster.sh (nothing in $state)"
    return 0
  fi
  if [ "$mode" = docker ]; then
    find_compose
    ((${#compose_cmd[@]})) || die "docker-compose is not installed; cannot stop the compose cluster"
    compose "$n" down -v --remove-orphans
    docker image rm ringkv:dev >/dev/null 2>&1 || true
    say "compose cluster removed: containers, network, volumes and the ringkv:dev image"
  else
    "$root/deploy/local-cluster.sh" down >/dev/null
    rm -rf "${RINGKV_LOCAL_DIR:-$root/.local-cluster}"
    say "local nodes stopped, their data deleted"
  fi
  rm -f "$state"
}

status() {
  local mode n
  [ -f "$state" ] || { say "no cluster started by deploy/cluster.sh"; return 0; }
  read -r mode n <"$state"
  say "$mode cluster of $n nodes"
  if [ "$mode" = docker ]; then
    find_compose
    compose "$n" ps
  else
    "$root/deploy/local-cluster.sh" status
  fi
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
