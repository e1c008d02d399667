#!/usr/bin/env bash
# The real Apache Kafka broker, fetched from Maven Central and run in KRaft mode.
#   kafka.sh fetch    resolve the broker jars into .cache/kafka/libs (once; reused after)
#   kafka.sh start    format storage if new, start on 127.0.0.1:9092, wait until ready
#   kafka.sh stop     stop it cleanly (SIGTERM, then wait)
#   kafka.sh status   exit 0 when a client can list topics
#   kafka.sh rotate USER  a new password for a principal (broker, secrets.json, its client file)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
libs="$root/.cache/kafka/libs"
run="$root/.run/kafka"
pidfile="$root/.run/kafka.pid"
python="${PYTHON:-$root/.venv/bin/python}"
bootstrap=127.0.0.1:9092

log() { echo "kafka: $*" >&2; }

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  log "fetching the broker from Maven Central (once)"
  mvn -q -B -f "$here/pom.xml" package
  touch "$libs/.complete"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

principals=("$python" "$here/principals.py")

ready() {
  "$python" - "$bootstrap" "$run/clients/admin.properties" "$root" <<'PY' >/dev/null 2>&1
import sys
sys.path.insert(0, sys.argv[3])
from kafka.admin import KafkaAdminClient
from schemas.kafka_client import client_security
security = client_security("admin", sys.argv[2])
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=3000, **security.kafka_python())
admin.list_topics()
admin.close()
PY
}

# Heap sized for a 2-core/24 GiB machine shared with the workers and PostgreSQL.
java=(java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
  -Dkafka.logs.dir="$run/logs" -Dlog4j2.configurationFile="$here/log4j2.xml"
  -cp "$libs/*")

start() {
  fetch
  if running; then
    ready && { LOCAL_KAFKA="$bootstrap" "${principals[@]}" acls; log "already running (pid $(cat "$pidfile"))"; return 0; }
  fi
  mkdir -p "$run/data" "$run/logs"
  if [ -f "$run/data/meta.properties" ] && [ ! -f "$run/secrets.json" ]; then
    # Storage formatted before the broker authenticated: it has no users. Local data only.
    log "storage without SCRAM users (made before authentication was on): formatting it again"
    rm -rf "$run/data" && mkdir -p "$run/data"
  fi
  "${principals[@]}" secrets
  jaas=$("${principals[@]}" jaas)
  sed -e "s#@DATA_DIR@#$run/data#" -e "s#@BROKER_JAAS@#${jaas}#" "$here/server.properties" > "$run/server.properties"
  chmod 600 "$run/server.properties"
  if [ ! -f "$run/data/meta.properties" ]; then
    log "formatting KRaft storage in $run/data, with a SCRAM user per principal"
    cluster_id=$("${java[@]}" kafka.tools.StorageTool random-uuid)
    scram=()
    while read -r line; do scram+=(--add-scram "$line"); done < <("${principals[@]}" scram-args)
    "${java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$run/server.properties" "${scram[@]}" >/dev/null
  fi
  log "starting on $bootstrap"
  nohup "${java[@]}" kafka.Kafka "$run/server.properties" >"$run/logs/stdout.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if ready; then
      LOCAL_KAFKA="$bootstrap" "${principals[@]}" acls
      log "ready (pid $(cat "$pidfile")); client settings per principal in $run/clients"
      return 0
    fi
    running || { log "exited during start-up; see $run/logs"; tail -20 "$run/logs/stdout.log" >&2; return 1; }
    sleep 0.5
  done
  log "not ready after 60 s; see $run/logs"; return 1
}

stop() {
  running || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  log "stopping (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && { log "still up after 30 s; killing"; kill -KILL "$pid"; }
  rm -f "$pidfile"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running && ready ;;
  rotate) [ -n "${2:-}" ] || { echo "usage: $0 rotate USER" >&2; exit 2; }
          LOCAL_KAFKA="$bootstrap" "${principals[@]}" rotate "$2" ;;
  *) echo "usage: $0 fetch|start|stop|status|rotate USER" >&2; exit 2 ;;
esac
