#!/usr/bin/env bash
# Local highly-available Redis topologies on 127.0.0.1, for tests, benchmarks and trying the job
# against them (never the shared stack's 6379):
#   cluster   three masters, slots spread by `redis-cli --cluster create`
#   sentinel  one master, one replica, three sentinels (quorum 2) monitoring master name "thermostat"
#
#   bash scripts/redis-ha.sh up cluster|sentinel [--dir DIR]   prints the REDIS_URL to use
#   bash scripts/redis-ha.sh down [--dir DIR]                  stops what `up` started there
#   bash scripts/redis-ha.sh status [--dir DIR]
#
# DIR (default .stack/redis-ha) holds configs, logs, pid files, and `<topology>.url`, `ports`.
# Idempotent: `up` on a running topology only checks it and prints its URL. Ports are free ones
# found at start (a cluster node also needs port+10000 for its bus). Persistence is off: this is
# for tests, not data. `redis-server --sentinel` is Sentinel (Debian ships it in redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[redis-ha] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

cmd=${1:-}
shift || true
topology=
dir=.stack/redis-ha
while (($#)); do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    cluster | sentinel) topology=$1; shift ;;
    *) die "unknown argument $1 (usage: up cluster|sentinel [--dir DIR] | down | status)" ;;
  esac
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
MASTER_NAME=thermostat

command -v redis-server >/dev/null && command -v redis-cli >/dev/null || die "redis-server and redis-cli are needed (scripts/bootstrap.sh installs them)"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A free port p (and p+10000 when a cluster bus is needed), not handed out before in this run.
taken=" "
free_port() {
  local bus=$1 p
  for _ in $(seq 1 200); do
    # Below Linux's ephemeral range (32768+), where any outgoing connection may take a port
    # between this check and the server's bind; a cluster bus port (p+10000) stays below it too.
    if [ "$bus" = 1 ]; then p=$((20000 + RANDOM % 2700)); else p=$((20000 + RANDOM % 12700)); fi
    [[ $taken == *" $p "* ]] && continue
    port_open "$p" && continue
    if [ "$bus" = 1 ] && port_open $((p + 10000)); then continue; fi
    taken+="$p "
    echo "$p"
    return
  done
  die "no free port found"
}
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
wait_for() { # wait_for SECONDS description command...
  local secs=$1 what=$2
  shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "timed out waiting for $what"
}
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_server() { # start_server NAME PORT [extra args...]
  local name=$1 port=$2
  shift 2
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --dir "$dir" \
    --pidfile "$dir/$name.pid" --logfile "$dir/$name.log" --save '' --appendonly no \
    --repl-diskless-sync-delay 0 "$@" >/dev/null 9>&-
  wait_for 10 "$name on $port" bash -c "[ \"\$(redis-cli -h 127.0.0.1 -p $port ping)\" = PONG ]"
}

running() { # the topology in $dir answers
  [ -f "$dir/topology" ] || return 1
  local p
  for p in $(cat "$dir/ports" 2>/dev/null); do [ "$(cli "$p" ping 2>/dev/null)" = PONG ] || return 1; done
}

up_cluster() {
  local ports=() p
  for _ in 1 2 3; do ports+=("$(free_port 1)"); done
  for p in "${ports[@]}"; do
    start_server "cluster-$p" "$p" --cluster-enabled yes --cluster-config-file "nodes-$p.conf" --cluster-node-timeout 2000
  done
  echo "${ports[*]}" >"$dir/ports"
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
    { cat "$dir/create.log" >&2; die "redis-cli --cluster create failed"; }
  for p in "${ports[@]}"; do
    wait_for 20 "cluster_state:ok on $p" bash -c "redis-cli -h 127.0.0.1 -p $p cluster info | grep -q cluster_state:ok"
  done
  echo "redis+cluster://$(printf '127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//')" >"$dir/cluster.url"
}

up_sentinel() {
  local master replica s sentinels=()
  master=$(free_port 0)
  replica=$(free_port 0)
  for _ in 1 2 3; do sentinels+=("$(free_port 0)"); done
  echo "$master $replica ${sentinels[*]}" >"$dir/ports"
  start_server "master-$master" "$master"
  start_server "replica-$replica" "$replica" --replicaof 127.0.0.1 "$master"
  # Synced once it acknowledges a write (WAIT on the writing connection; one that wrote nothing
  # counts every online replica, even one that acknowledges nothing yet).
  wait_for 20 "the replica to sync" bash -c \
    "[ \"\$(printf 'SET redis-ha:synced 1\nWAIT 1 100\nDEL redis-ha:synced\n' | redis-cli -h 127.0.0.1 -p $master | sed -n 2p)\" = 1 ]"
  for s in "${sentinels[@]}"; do
    cat >"$dir/sentinel-$s.conf" <<EOF
port $s
bind 127.0.0.1
daemonize yes
pidfile $dir/sentinel-$s.pid
logfile $dir/sentinel-$s.log
dir $dir
sentinel resolve-hostnames no
sentinel monitor $MASTER_NAME 127.0.0.1 $master 2
sentinel down-after-milliseconds $MASTER_NAME 2000
sentinel failover-timeout $MASTER_NAME 10000
sentinel parallel-syncs $MASTER_NAME 1
EOF
    redis-server "$dir/sentinel-$s.conf" --sentinel >/dev/null 9>&-
  done
  for s in "${sentinels[@]}"; do
    wait_for 20 "sentinel $s to see the replica" bash -c \
      "redis-cli -h 127.0.0.1 -p $s sentinel replicas $MASTER_NAME | grep -q $replica"
  done
  echo "redis+sentinel://$(printf '127.0.0.1:%s,' "${sentinels[@]}" | sed 's/,$//')/$MASTER_NAME" >"$dir/sentinel.url"
}

down() {
  local f pid stopped=0
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" && stopped=$((stopped + 1)); fi
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
  rm -f "$dir/topology" "$dir/ports" "$dir"/*.url "$dir"/nodes-*.conf "$dir"/sentinel-*.conf
  log "stopped $stopped processes in $dir"
}

case $cmd in
  up)
    [ -n "$topology" ] || die "up needs cluster or sentinel"
    if running; then
      [ "$(cat "$dir/topology")" = "$topology" ] || die "$dir already runs $(cat "$dir/topology"); use another --dir or down first"
      cat "$dir/$topology.url"
      exit 0
    fi
    down >/dev/null 2>&1 || true
    "up_$topology"
    echo "$topology" >"$dir/topology"
    log "$topology up in $dir: $(cat "$dir/$topology.url")"
    cat "$dir/$topology.url"
    ;;
  down) down ;;
  status)
    if running; then echo "$(cat "$dir/topology") $(cat "$dir/$(cat "$dir/topology").url")"; else echo "not running"; exit 1; fi
    ;;
  *) die "usage: up cluster|sentinel [--dir DIR] | down [--dir DIR] | status [--dir DIR]" ;;
esac
