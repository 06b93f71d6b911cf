#!/usr/bin/env bash
# tests/docker/run.sh - ringkv in containers: the image and the compose
# cluster under container faults (suite 'docker'; ringkv issue #7).
#
#   tests/docker/run.sh            from meson (RINGKV_BUILD_DIR set) or by hand
#
# Exits 77 (meson: skipped) with the reason when no Docker engine answers
# or docker-compose is missing. Otherwise:
#   1. builds the image from the binaries in RINGKV_BUILD_DIR (default
#      build/; used as they are, meson built them) under a tag of its own
#      (deploy/build-image.sh: FROM scratch, nothing pulled) and checks
#      it: under IMAGE_BYTES_MAX, non-root user, a healthcheck, a /data
#      volume
#   2. checks that docker-compose.yml + docker-compose.5.yml define five
#      nodes, then starts deploy/docker-compose.yml as project
#      ringkv-test-PID (3 nodes, N=3, host ports 7101-7103 / 6401-6403 /
#      8101-8103: busy ports fail the test with a clear message), waits
#      for every healthcheck and for the ring to hold all three nodes;
#      kvnode must run as uid 10001 with /data on a volume
#   3. writes through RESP (redis-cli) and the native protocol (kvctl, on
#      the C SDK) from the host; every acknowledged write enters a ledger
#   4. under a steady write load to every node (tests/docker/load.py:
#      acked, failed and in-doubt writes counted apart; only acked ones
#      enter the ledger), one fault after another, each healed:
#      docker kill (SIGKILL) node1, then docker start;
#      docker pause node2 (it must stop answering), then unpause;
#      docker network disconnect node3 (unreachable), then connect again
#      with its service alias (peers must resolve it again)
#   5. converge: every acknowledged write must be on EVERY node (N=3 on
#      three nodes: each node is a replica of every key), read from each
#      node's own copy with replica_check (`kvctl local-get` for many
#      keys over one connection: no quorum, so no read repair) within
#      CONVERGE_WAIT_S: hints drained (ringkv_hints_held 0), then the
#      copies the heal left missing are counted and anti-entropy
#      (`kvctl repair` on every node) must bring them all.
#      Then every write is read back through each node as a client would
#      (redis-cli GET, default R).
#   6. a rolling restart (SIGTERM, one node at a time, each back healthy
#      before the next) under the steady load, then the same convergence
#   7. node1's container recreated on its volume keeps its data
# Zero lost acknowledged writes is the pass condition. A trap always runs
# `docker-compose down -v` for the project and removes the image, on
# success, failure or interrupt. Every wait has a deadline; a run took
# 3.5 to 5 minutes on a two-core machine shared with other builds.
set -euo pipefail

IMAGE_BYTES_MAX=$((40 * 1000 * 1000))
HEALTH_WAIT_S=60
RING_WAIT_S=30
CONVERGE_WAIT_S=90
FAULT_HOLD_S=6        # how long each fault lasts while the load runs
ROLL_DOWN_S=3         # how long each node stays stopped in the rolling restart
LOAD_STOP_WAIT_S=20   # a writer thread finishes its write in flight (<= 11 s)
NODES=3
INITIAL_KEYS=40       # per node, through one pipelined redis-cli

src=${RINGKV_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bld=${RINGKV_BUILD_DIR:-$src/build}
project=ringkv-test-$$
image=ringkv-test:$$
work=$(mktemp -d "${TMPDIR:-/tmp}/ringkv-docker.XXXXXX")
ledger=$work/ledger   # "node key value proto" per acknowledged write
t0=$SECONDS
acked_total=0 failed_total=0 doubt_total=0

skip() { echo "SKIP: $*"; exit 77; }
log() { printf '[%3ds] %s\n' $((SECONDS - t0)) "$*"; }
fail() { log "FAIL: $*"; exit 1; }

export RINGKV_IMAGE=$image
compose() { "${compose_cmd[@]}" -p "$project" -f "$src/deploy/docker-compose.yml" "$@"; }

# Runs on every exit: success, failure, skip, interrupt.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "${load_pid:-}" ]; then
    touch "$work/stop"
    kill "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
  fi
  if [ -n "${cluster_up:-}" ]; then
    if ((rc != 0)); then
      log "last 30 log lines per node:"
      compose logs --no-color --tail 30 2>&1 | sed 's/^/    /' || true
    fi
    compose down -v -t 5 --remove-orphans >/dev/null 2>&1 || log "warning: compose down failed for $project"
  fi
  if [ -n "${image_built:-}" ]; then
    docker image rm -f "$image" >/dev/null 2>&1 || true
    log "removed project $project and image $image (exit $rc)"
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- preconditions: skip without Docker, fail on a broken set-up ----

command -v docker >/dev/null || skip "docker CLI not installed"
timeout 20 docker info >/dev/null 2>&1 || skip "no Docker engine answers (docker info failed)"
if command -v docker-compose >/dev/null; then
  compose_cmd=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
else
  skip "neither docker-compose nor the docker compose plugin is installed"
fi
command -v redis-cli >/dev/null || fail "redis-cli not found (scripts/deps.sh installs redis-tools)"
command -v python3 >/dev/null || fail "python3 not found"
command -v curl >/dev/null || fail "curl not found (scripts/deps.sh installs it)"
kvctl=$bld/client/kvctl
replica_check=$bld/tests/docker/replica_check
[ -x "$kvctl" ] || fail "$kvctl not built"
[ -x "$replica_check" ] || fail "$replica_check not built"
[ -x "$bld/node/kvnode" ] || fail "$bld/node/kvnode not built"
load=(python3 "$src/tests/docker/load.py")

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for i in $(seq 1 $NODES); do
  for p in $((7100 + i)) $((6400 + i)) $((8100 + i)); do
    if port_busy "$p"; then
      fail "127.0.0.1:$p is in use; the compose cluster publishes node ports there." \
           "Stop what listens (deploy/local-cluster.sh down, or another compose cluster) and rerun."
    fi
  done
done

# The replica check reads each node's own copy (replica_check, the
# request behind kvctl local-get) and repairs through anti-entropy
# (kvctl repair).
for cmd in local-get repair aae-status; do
  "$kvctl" --help 2>&1 | grep -Eq "^  $cmd " || fail "$kvctl has no '$cmd' command (stale build?)"
done

# ---- helpers: one node is addressed by its number 1..NODES ----

all_nodes=$(seq -s, 1 $NODES)
container() { compose ps -q "node$1"; }
resp() { local n=$1; shift; timeout 10 redis-cli -p $((6400 + n)) "$@"; }
kv() { local n=$1; shift; timeout 10 "$kvctl" --host "127.0.0.1:$((7100 + n))" "$@"; }

health_of() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$(container "$1")"; }

wait_healthy() {
  local deadline=$((SECONDS + HEALTH_WAIT_S)) n
  for n in "$@"; do
    until [ "$(health_of "$n")" = healthy ]; do
      ((SECONDS < deadline)) || fail "node$n not healthy after ${HEALTH_WAIT_S}s (status $(health_of "$n"))"
      sleep 0.5
    done
  done
}

# Answers from the host: a RESP PING and a kvctl ping, within a deadline
# (a container that just came back may take a moment to accept).
wait_answers() {
  local n=$1 deadline=$((SECONDS + 20))
  until [ "$(timeout 2 redis-cli -p $((6400 + n)) PING 2>/dev/null)" = PONG ] &&
        timeout 2 "$kvctl" --host "127.0.0.1:$((7100 + n))" ping >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "node$n does not answer from the host"
    sleep 0.3
  done
}

# Must NOT answer: proves the fault really cut the node off.
expect_silent() {
  local n=$1 what=$2
  if [ "$(timeout 2 redis-cli -p $((6400 + n)) PING 2>/dev/null)" = PONG ]; then
    fail "node$n still answers PING while $what"
  fi
}

# The ring node1 serves names every node, each owning partitions.
wait_ring() {
  local deadline=$((SECONDS + RING_WAIT_S)) owners
  until owners=$(kv 1 ring 2>/dev/null | awk '$1 ~ /^node[0-9]+$/ && $3 > 0' | wc -l) &&
        ((owners == NODES)); do
    ((SECONDS < deadline)) || { kv 1 ring || true; fail "ring not formed over $NODES nodes in ${RING_WAIT_S}s"; }
    sleep 0.5
  done
}

# Steady load on every node in the background (load.py write).
load_start() {
  load_tag=$1
  rm -f "$work/stop"
  "${load[@]}" write --ledger "$ledger" --stop "$work/stop" --tag "$load_tag" \
    --nodes "$all_nodes" --kvctl "$kvctl" >"$work/load.out" 2>&1 &
  load_pid=$!
  log "steady load '$load_tag' started on nodes $all_nodes"
}

# Stops it, prints its counts, adds them up; a load that got nothing
# acknowledged proves nothing, so that fails.
load_stop() {
  local deadline=$((SECONDS + LOAD_STOP_WAIT_S)) total a f d
  touch "$work/stop"
  while kill -0 "$load_pid" 2>/dev/null; do
    ((SECONDS < deadline)) || { kill "$load_pid"; fail "load '$load_tag' did not stop in ${LOAD_STOP_WAIT_S}s"; }
    sleep 0.2
  done
  wait "$load_pid" || { cat "$work/load.out"; fail "load '$load_tag' failed"; }
  load_pid=
  sed 's/^/    /' "$work/load.out"
  total=$(grep ' total ' "$work/load.out") || fail "load '$load_tag' printed no total"
  a=$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' <<<"$total")
  f=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$total")
  d=$(sed -n 's/.*in_doubt=\([0-9]*\).*/\1/p' <<<"$total")
  ((a > 0)) || fail "load '$load_tag' got no write acknowledged"
  acked_total=$((acked_total + a)) failed_total=$((failed_total + f)) doubt_total=$((doubt_total + d))
}

# Every ledger entry read back through each node with its default R
# (one pipelined redis-cli per node): what a client sees right after a
# heal. Cheap; converge() is the replica-by-replica check.
verify_reads() {
  local what=$1 lost=0 n i got
  local -a keys=() vals=()
  while read -r _ k v _; do keys+=("$k"); vals+=("$v"); done <"$ledger"
  for n in $(seq 1 $NODES); do
    i=0
    while IFS= read -r got; do
      if ((i < ${#keys[@]})) && [ "$got" != "${vals[i]}" ]; then
        ((lost < 5)) && log "read through node$n: ${keys[i]} expected '${vals[i]}' got '$got'"
        lost=$((lost + 1))
      fi
      i=$((i + 1))
    done < <(for k in "${keys[@]}"; do echo "GET $k"; done | resp "$n")
    ((i == ${#keys[@]})) || fail "node$n answered $i of ${#keys[@]} GETs ($what)"
  done
  ((lost == 0)) || fail "$lost reads of acknowledged writes wrong ($what)"
  log "read ${#keys[@]} acknowledged writes through each node ($what)"
}

# Sum of ringkv_hints_held over the nodes (hints a node keeps for a
# replica that was down), from /metrics.
hints_held() {
  local n sum=0 v
  for n in ${1//,/ }; do
    v=$(curl -fsS --max-time 2 "http://127.0.0.1:$((8100 + n))/metrics" |
        awk '$1 == "ringkv_hints_held" { print $2 }') || v=
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# converge WHAT [NODES]: every acknowledged write on every node's own
# copy (replica_check: no quorum, no read repair) within
# CONVERGE_WAIT_S. First the hints drain; a check then shows what the
# heal left missing; `kvctl repair` on every node starts anti-entropy
# exchanges, and the missing copies are checked again until none is.
# Nothing here reads through a quorum, so read repair plays no part.
converge() {
  local what=$1 nodes=${2:-$all_nodes} t=$SECONDS deadline=$((SECONDS + CONVERGE_WAIT_S))
  local held missing round=0
  until held=$(hints_held "$nodes") && ((held == 0)); do
    ((SECONDS < deadline)) || fail "$held hints still held after ${CONVERGE_WAIT_S}s ($what)"
    sleep 1
  done
  if "${load[@]}" check --ledger "$ledger" --nodes "$nodes" --replica-check "$replica_check" \
       --report "$work/missing" >"$work/check.out" 2>&1; then
    log "$(head -1 "$work/check.out") ($what)"
    return 0
  fi
  missing=$(wc -l <"$work/missing")
  log "$(head -1 "$work/check.out") ($what); anti-entropy must bring them:"
  sed -n '2,$s/^/    /p' "$work/check.out"
  cp "$work/missing" "$work/pending"
  while :; do
    if ((round % 10 == 0)); then
      for n in ${nodes//,/ }; do kv "$n" repair >/dev/null || fail "kvctl repair on node$n: exit $?"; done
    fi
    round=$((round + 1))
    sleep 1
    if "${load[@]}" check --ledger "$work/pending" --pairs --replica-check "$replica_check" \
         --report "$work/missing" >"$work/check.out" 2>&1; then
      log "all $missing missing copies repaired by anti-entropy in $((SECONDS - t))s ($what)"
      return 0
    fi
    cp "$work/missing" "$work/pending"
    if ((SECONDS >= deadline)); then
      sed 's/^/    /' "$work/check.out"
      for n in ${nodes//,/ }; do kv "$n" aae-status | tail -8 | sed "s/^/    node$n: /" || true; done
      fail "$(wc -l <"$work/missing") copies of acknowledged writes still missing after ${CONVERGE_WAIT_S}s ($what)"
    fi
  done
}

# ---- 1. image ----

log "building image $image from $bld"
image_built=1
RINGKV_NO_BUILD=1 RINGKV_BIN_DIR=$bld "$src/deploy/build-image.sh" "$image" | sed 's/^/    /'
bytes=$(docker image inspect -f '{{.Size}}' "$image")
((bytes < IMAGE_BYTES_MAX)) || fail "image is $bytes bytes, limit $IMAGE_BYTES_MAX"
user=$(docker image inspect -f '{{.Config.User}}' "$image")
case ${user%%:*} in '' | 0 | root) fail "image runs as '$user', not ringkv" ;; esac
docker image inspect -f '{{.Config.Healthcheck.Test}}' "$image" | grep -q kvctl ||
  fail "image has no kvctl healthcheck"
docker image inspect -f '{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}' "$image" | grep -qw /data ||
  fail "image declares no /data volume"
log "image is $bytes bytes, user $user, healthcheck and /data volume present"

# ---- 2. cluster ----

# The documented 5-node variant must at least be a valid compose project.
services=$(COMPOSE_FILE="$src/deploy/docker-compose.yml:$src/deploy/docker-compose.5.yml" \
           "${compose_cmd[@]}" -p "$project" config --services 2>&1 | sort | tr '\n' ' ') ||
  fail "docker-compose.yml + docker-compose.5.yml do not parse: $services"
[ "$services" = "node1 node2 node3 node4 node5 " ] || fail "the 5-node compose files define: $services"

: >"$ledger"
cluster_up=1
compose up -d >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "compose up failed"; }
nodes=$(seq 1 $NODES)
# shellcheck disable=SC2086
wait_healthy $nodes
wait_ring
log "project $project: $NODES nodes healthy, ring over all of them"
for n in $nodes; do
  uid=$(docker top "$(container "$n")" -o pid,uid,comm | awk '$3 == "kvnode" { print $2 }')
  [ "$uid" = 10001 ] || fail "kvnode in node$n runs as uid '$uid', not 10001"
  docker inspect -f '{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}' "$(container "$n")" |
    grep -qw volume:/data || fail "node$n has no volume at /data"
done
log "kvnode runs as uid 10001 with /data on a volume in every container"

# ---- 3. first writes: redis-cli and kvctl from the host ----

for n in $nodes; do
  [ "$(resp "$n" SET "hello:n$n" "world$n")" = OK ] || fail "redis-cli SET through node$n"
  [ "$(resp "$n" GET "hello:n$n")" = "world$n" ] || fail "redis-cli GET through node$n"
  echo "$n hello:n$n world$n resp" >>"$ledger"
  replies=$(for ((i = 0; i < INITIAL_KEYS; i++)); do echo "SET first:n$n:r$i v$i"; done | resp "$n")
  [ "$(grep -c '^OK$' <<<"$replies")" = "$INITIAL_KEYS" ] || fail "node$n acked $(grep -c '^OK$' <<<"$replies") of $INITIAL_KEYS pipelined SETs"
  for ((i = 0; i < INITIAL_KEYS; i++)); do echo "$n first:n$n:r$i v$i resp" >>"$ledger"; done
  kv "$n" put "first:n$n:k" "kv$n" >/dev/null || fail "kvctl put through node$n"
  [ "$(kv "$n" get "first:n$n:k")" = "kv$n" ] || fail "kvctl get through node$n"
  echo "$n first:n$n:k kv$n kvctl" >>"$ledger"
done
converge "first writes"
verify_reads "first writes"

# Peers reach each other by service name through Docker's DNS, from
# inside the scratch image (no resolver libraries beyond libc).
for n in $nodes; do
  peer=$((n % NODES + 1))
  docker exec "$(container "$n")" /usr/bin/kvctl --host "node$peer:7100" ping >/dev/null ||
    fail "node$n cannot reach node$peer by its service name"
done
log "every node reaches its peer by service name"

# ---- 4. faults under a steady load ----

load_start faults
sleep 2

docker kill "$(container 1)" >/dev/null
log "killed node1 (SIGKILL)"
expect_silent 1 "killed"
sleep "$FAULT_HOLD_S"
docker start "$(container 1)" >/dev/null
wait_healthy 1
wait_answers 1
log "node1 back"

docker pause "$(container 2)" >/dev/null
log "paused node2"
expect_silent 2 "paused"
sleep "$FAULT_HOLD_S"
docker unpause "$(container 2)" >/dev/null
wait_answers 2
log "node2 unpaused"

net=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$(container 3)")
docker network disconnect "$net" "$(container 3)"
log "disconnected node3 from $net"
expect_silent 3 "disconnected"
sleep "$FAULT_HOLD_S"
# compose gave the container its service name as a DNS alias; a plain
# reconnect would drop it and peers could no longer resolve node3.
docker network connect --alias node3 "$net" "$(container 3)"
wait_answers 3
docker exec "$(container 1)" /usr/bin/kvctl --host node3:7100 ping >/dev/null ||
  fail "node1 cannot resolve and reach node3 after the reconnect"
log "node3 reconnected"
sleep 2
load_stop

converge "after kill, pause and disconnect"
verify_reads "after kill, pause and disconnect"

# ---- 5. rolling restart under a steady load ----

load_start rolling
sleep 2
for n in $nodes; do
  compose stop -t 20 "node$n" >/dev/null 2>&1
  log "stopped node$n (SIGTERM)"
  sleep "$ROLL_DOWN_S"
  compose start "node$n" >/dev/null 2>&1
  wait_healthy "$n"
  wait_answers "$n"
  log "node$n back"
done
sleep 2
load_stop
log "rolling restart done"
converge "after a rolling restart"
verify_reads "after a rolling restart"

# ---- 6. a new container on the old volume ----
# The data lives in the volume, not in the container's writable layer.

compose up -d --force-recreate --no-deps node1 >/dev/null 2>&1
wait_healthy 1
wait_answers 1
converge "node1 recreated on its volume" 1

log "PASS: $(wc -l <"$ledger") acknowledged writes on every replica, none lost" \
    "(steady load: $acked_total acked, $failed_total failed, $doubt_total in doubt); $((SECONDS - t0))s"
