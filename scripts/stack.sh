#!/usr/bin/env bash
# The local stack: a real Apache Kafka broker (KRaft, single node, jars from Maven Central) and
# Redis, both on 127.0.0.1. Idempotent: `up` on a running stack only checks it and returns.
#   bash scripts/stack.sh up|down|status
# Everything lives under .stack/ (ignored): kafka/libs (jars), kafka/data, kafka/server.log,
# redis/ (AOF + log). `down` stops only what this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
stack=$root/.stack
kdir=$stack/kafka
rdir=$stack/redis
KAFKA_VERSION=3.9.1 # keep in step with scripts/kafka/pom.xml
CLUSTER_ID=dGhlcm1vc3RhdC1sb2NhbA # base64url("thermostat-local"): fixed, so data survives restarts
KAFKA_BOOTSTRAP=127.0.0.1:9092
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}
KAFKA_START_TIMEOUT_MS=${KAFKA_START_TIMEOUT_MS:-90000}
log() { printf '[stack] %s\n' "$*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
kafka_answers() { node scripts/kafka/wait-ready.cjs "$KAFKA_BOOTSTRAP" "$1" "$kdir/server.log"; }

kafka_install() {
  local stamp=$kdir/libs/.version
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$KAFKA_VERSION" ] && [ ! scripts/kafka/pom.xml -nt "$stamp" ]; then return; fi
  command -v java >/dev/null && command -v mvn >/dev/null || { log "java and mvn are needed for the local Kafka (run scripts/bootstrap.sh)"; exit 1; }
  log "downloading Apache Kafka $KAFKA_VERSION jars from Maven Central into .stack/kafka/libs"
  rm -rf "$kdir/libs"
  mkdir -p "$kdir/libs"
  mvn -q -B -f scripts/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory="$kdir/libs"
  echo "$KAFKA_VERSION" >"$stamp"
}

kafka_up() {
  # The jars also serve the private brokers the tests start, whichever broker answers on 9092.
  kafka_install
  if alive "$kdir/kafka.pid"; then
    if kafka_answers 30000; then log "kafka already running (pid $(cat "$kdir/kafka.pid")) on $KAFKA_BOOTSTRAP"; return; fi
    log "kafka pid $(cat "$kdir/kafka.pid") is alive but does not answer; see $kdir/server.log"; exit 1
  fi
  if port_open 9092; then
    # Someone else's broker (another checkout, a container): use it rather than fight for the port.
    if kafka_answers 10000; then log "a Kafka broker not started by this script answers on $KAFKA_BOOTSTRAP; using it"; return; fi
    log "port 9092 is taken by something that is not a Kafka broker"; exit 1
  fi
  mkdir -p "$kdir/data"
  sed "s#@DATA_DIR@#$kdir/data#" scripts/kafka/server.properties >"$kdir/server.properties"
  local cp="$kdir/libs/*"
  if [ ! -f "$kdir/data/meta.properties" ]; then
    log "formatting KRaft storage (cluster id $CLUSTER_ID)"
    java -cp "$cp" -Dlog4j.configuration="file:$root/scripts/kafka/log4j.properties" -Dkafka.logs.dir="$kdir" \
      kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$kdir/server.properties" --ignore-formatted >>"$kdir/format.log" 2>&1 ||
      { log "storage format failed; see $kdir/format.log"; exit 1; }
  fi
  log "starting Kafka $KAFKA_VERSION (KRaft) on $KAFKA_BOOTSTRAP, log $kdir/server.log"
  # setsid + nohup: the broker outlives this shell and the terminal that ran it; 9>&- keeps the
  # stack lock out of the daemon (else it would hold the lock forever).
  # shellcheck disable=SC2086
  setsid nohup java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$root/scripts/kafka/log4j.properties" -Dkafka.logs.dir="$kdir" \
    -cp "$cp" kafka.Kafka "$kdir/server.properties" >"$kdir/stdout.log" 2>&1 </dev/null 9>&- &
  echo $! >"$kdir/kafka.pid"
  if ! kafka_answers "$KAFKA_START_TIMEOUT_MS"; then
    if ! alive "$kdir/kafka.pid"; then log "the broker exited; last lines of $kdir/server.log:"; tail -n 20 "$kdir/server.log" >&2 || true; fi
    exit 1
  fi
  log "kafka ready (pid $(cat "$kdir/kafka.pid"))"
}

redis_up() {
  if alive "$rdir/redis.pid" && redis_answers; then log "redis already running (pid $(cat "$rdir/redis.pid")) on 127.0.0.1:6379"; return; fi
  if redis_answers; then log "a Redis not started by this script answers on 127.0.0.1:6379; using it"; return; fi
  mkdir -p "$rdir"
  # AOF with fsync every second: checkpoints survive a crash of the dev stack with at most ~1 s
  # lost, at a fraction of the cost of fsync per write. Listpack values up to 1 KiB keep a state
  # hash (its internal field `s` is ~100-500 B) compact: ~2x less memory per user (docs/DEPLOY.md).
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --dir "$rdir" --pidfile "$rdir/redis.pid" \
    --logfile "$rdir/redis.log" --appendonly yes --appendfsync everysec --save '' \
    --hash-max-listpack-value 1024 >/dev/null 9>&-
  for _ in $(seq 1 50); do redis_answers && break; sleep 0.1; done
  redis_answers || { log "redis did not start; see $rdir/redis.log"; exit 1; }
  log "redis ready (pid $(cat "$rdir/redis.pid")) on 127.0.0.1:6379, data in $rdir"
}

stop_pid() { # pidfile name seconds
  local pidfile=$1 name=$2 wait_s=$3
  if ! alive "$pidfile"; then rm -f "$pidfile"; log "$name: not started by this script"; return; fi
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 $((wait_s * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in ${wait_s}s; killing"; kill -KILL "$pid"; fi
  rm -f "$pidfile"
  log "$name stopped"
}

status() {
  local k r
  if alive "$kdir/kafka.pid"; then k="running (pid $(cat "$kdir/kafka.pid"), started by stack.sh)"
  elif port_open 9092; then k="running (not started by stack.sh)"
  else k="stopped"; fi
  if alive "$rdir/redis.pid"; then r="running (pid $(cat "$rdir/redis.pid"), started by stack.sh)"
  elif redis_answers; then r="running (not started by stack.sh)"
  else r="stopped"; fi
  printf 'kafka  %-22s %s\n' "$KAFKA_BOOTSTRAP" "$k"
  printf 'redis  %-22s %s\n' "127.0.0.1:6379" "$r"
}

cmd=${1:-status}
mkdir -p "$stack"
# Several test processes may call `up` at once: serialize on a lock.
exec 9>"$stack/stack.lock"
flock 9
case "$cmd" in
  up) redis_up; kafka_up ;;
  down) stop_pid "$kdir/kafka.pid" kafka 30; stop_pid "$rdir/redis.pid" redis 10 ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
