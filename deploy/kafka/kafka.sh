#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker + controller) on loopback, for tests and
# local runs. No Docker: the jars come from Maven Central through pom.xml beside this file.
#
#   deploy/kafka/kafka.sh start    fetch jars if needed, format storage, start, wait until ready;
#                                  writes the bootstrap address to deploy/kafka/run/bootstrap
#   deploy/kafka/kafka.sh stop     stop the broker cleanly (SIGTERM, then SIGKILL after 30 s)
#   deploy/kafka/kafka.sh status   exit 0 and print the bootstrap address if it is running
#
# Environment: KAFKA_PORT (default 9092, or a free port if 9092 is taken), KAFKA_HEAP (512m),
# KAFKA_RUN_DIR (default deploy/kafka/run).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run_dir="${KAFKA_RUN_DIR:-$here/run}"
lib_dir="$here/lib"
pid_file="$run_dir/kafka.pid"
bootstrap_file="$run_dir/bootstrap"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }

port_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

is_running() {
  [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

accepts_connections() {
  python3 - "$1" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

fetch_jars() {
  if [[ ! -f "$lib_dir/.complete" ]] || [[ "$here/pom.xml" -nt "$lib_dir/.complete" ]]; then
    log "fetching Kafka jars from Maven Central"
    rm -rf "$lib_dir"
    mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies >&2
    touch "$lib_dir/.complete"
  fi
}

start() {
  if is_running; then
    log "already running at $(cat "$bootstrap_file")"
    cat "$bootstrap_file"
    return 0
  fi
  command -v java >/dev/null || { log "java not found: install a JDK 17+"; exit 1; }
  fetch_jars
  local port="${KAFKA_PORT:-9092}"
  port_free "$port" || port="$(free_port)"
  local controller_port
  controller_port="$(free_port)"
  rm -rf "$run_dir"
  mkdir -p "$run_dir/data"
  cat >"$run_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${run_dir}/data
num.partitions=4
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
PROPS
  cat >"$run_dir/log4j2.properties" <<PROPS
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${run_dir}/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
PROPS
  local cp="$lib_dir/*"
  local java_opts=(-Xms128m "-Xmx${KAFKA_HEAP:-512m}" -XX:+UseG1GC -XX:TieredStopAtLevel=1
    "-Dlog4j2.configurationFile=$run_dir/log4j2.properties" -Djava.awt.headless=true)
  local cluster_id
  cluster_id="$(java -cp "$cp" "${java_opts[@]}" kafka.tools.StorageTool random-uuid)"
  java -cp "$cp" "${java_opts[@]}" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$run_dir/server.properties" >"$run_dir/format.log" 2>&1 \
    || { log "storage format failed:"; cat "$run_dir/format.log" >&2; exit 1; }
  nohup java -cp "$cp" "${java_opts[@]}" kafka.Kafka "$run_dir/server.properties" \
    >"$run_dir/stdout.log" 2>&1 &
  echo $! >"$pid_file"
  local deadline=$((SECONDS + 90))
  until grep -q "Kafka Server started" "$run_dir/kafka.log" 2>/dev/null && accepts_connections "$port"; do
    if ! is_running; then
      log "broker exited during start-up:"; tail -n 40 "$run_dir/stdout.log" "$run_dir/kafka.log" >&2 || true
      exit 1
    fi
    if ((SECONDS > deadline)); then
      log "broker not ready after 90 s"; tail -n 40 "$run_dir/kafka.log" >&2 || true
      stop; exit 1
    fi
    sleep 0.5
  done
  echo "127.0.0.1:${port}" >"$bootstrap_file"
  log "ready at 127.0.0.1:${port} (pid $(cat "$pid_file"), logs in $run_dir)"
  cat "$bootstrap_file"
}

stop() {
  if ! is_running; then
    log "not running"
    return 0
  fi
  local pid
  pid="$(cat "$pid_file")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      log "no clean stop after 30 s; killing"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.3
  done
  rm -f "$pid_file"
  log "stopped"
}

status() {
  if is_running && [[ -f "$bootstrap_file" ]]; then
    cat "$bootstrap_file"
  else
    exit 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
