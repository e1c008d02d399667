#!/usr/bin/env bash
# The real Apache Kafka broker, fetched from Maven Central and run in KRaft mode: one node, or
# three with BROKERS=3 (each broker + controller; clients on 9092, 9093, 9094).
#   kafka.sh fetch       resolve the broker jars into .cache/kafka/libs (once; reused after)
#   kafka.sh start [N]   format storage if new, start every node (or node N), wait until ready
#   kafka.sh stop [N]    stop every node (or node N) cleanly (SIGTERM, then wait)
#   kafka.sh status      exit 0 when a client can list topics and every node is in the cluster
#   kafka.sh bootstrap   the client bootstrap list of the local cluster
#   kafka.sh pid N       node N's process id (the chaos scenarios kill and freeze nodes)
#   kafka.sh rotate USER a new password for a principal (broker, secrets.json, its client file)
# BROKERS (1 or 3) chooses the size when the storage is new; unset, the size the storage was
# formatted with. A different size than the storage's is refused: nodes cannot be added to or
# removed from a local cluster by restarting it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
libs="$root/.cache/kafka/libs"
run="${KAFKA_RUN_DIR:-$root/.run/kafka}"
python="${PYTHON:-$root/.venv/bin/python}"

log() { echo "kafka: $*" >&2; }

# The size of the cluster: as its storage was formatted, else BROKERS, else 1.
formatted=""
if [ -f "$run/brokers" ]; then formatted=$(cat "$run/brokers")
elif [ -f "$run/data/meta.properties" ]; then formatted=1   # a one-node storage made before BROKERS
fi
brokers=${BROKERS:-${formatted:-1}}
case "$brokers" in 1|3) ;; *) log "BROKERS=$brokers: the local cluster runs 1 or 3 nodes"; exit 2 ;; esac

client_port() { echo $((9091 + $1)); }
controller_port() { if [ "$brokers" = 1 ]; then echo 9093; else echo $((19091 + $1)); fi; }
node_dir() { if [ "$brokers" = 1 ]; then echo "$run"; else echo "$run/node-$1"; fi; }
pidfile() { if [ "$1" = 1 ]; then echo "$root/.run/kafka.pid"; else echo "$root/.run/kafka-$1.pid"; fi; }
nodes() { seq 1 "$brokers"; }
bootstrap=$(for n in $(nodes); do printf '127.0.0.1:%s,' "$(client_port "$n")"; done)
bootstrap=${bootstrap%,}
voters=$(for n in $(nodes); do printf '%s@127.0.0.1:%s,' "$n" "$(controller_port "$n")"; done)
voters=${voters%,}

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  log "fetching the broker from Maven Central (once)"
  mvn -q -B -f "$here/pom.xml" package
  touch "$libs/.complete"
}

running() { local p; p=$(pidfile "$1"); [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; }

principals=("$python" "$here/principals.py")

# Ready: a client lists topics, and every node of the cluster is registered.
ready() {
  "$python" - "$bootstrap" "$run/clients/admin.properties" "$root" "$brokers" <<'PY' >/dev/null 2>&1
import sys
sys.path.insert(0, sys.argv[3])
from kafka.admin import KafkaAdminClient
from schemas.kafka_client import client_security
security = client_security("admin", sys.argv[2])
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1].split(","), request_timeout_ms=3000, **security.kafka_python())
admin.list_topics()
assert sum(not b.get("is_fenced") for b in admin.describe_cluster()["brokers"]) >= int(sys.argv[4])
admin.close()
PY
}

# Heap sized for a 2-core/24 GiB machine shared with the workers and PostgreSQL.
java=(java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
  -Dkafka.logs.dir="$run/logs" -Dlog4j2.configurationFile="$here/log4j2.xml" -cp "$libs/*")

configure() {  # node N's server.properties, from the template
  local n=$1 dir replication=1 min_isr=1
  dir=$(node_dir "$n")
  if [ "$brokers" = 3 ]; then replication=3; min_isr=2; fi
  mkdir -p "$dir/data" "$dir/logs"
  sed -e "s#@DATA_DIR@#$dir/data#" -e "s#@BROKER_JAAS@#${jaas}#" -e "s#@NODE_ID@#$n#" -e "s#@VOTERS@#$voters#" \
      -e "s#@CLIENT_PORT@#$(client_port "$n")#g" -e "s#@CONTROLLER_PORT@#$(controller_port "$n")#" \
      -e "s#@REPLICATION@#$replication#g" -e "s#@MIN_ISR@#$min_isr#g" \
      "$here/server.properties" > "$dir/server.properties"
  chmod 600 "$dir/server.properties"
}

launch() {  # start node N's process (its storage formatted)
  local n=$1 dir
  dir=$(node_dir "$n")
  running "$n" && return 0
  nohup "${java[@]}" -Dkafka.logs.dir="$dir/logs" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 &
  echo $! >"$(pidfile "$n")"
}

start() {
  local only=${1:-}
  if [ -n "$formatted" ] && [ "$formatted" != "$brokers" ]; then
    log "the storage in $run is a $formatted-node cluster, not $brokers: run with BROKERS=$formatted," \
        "or stop it (make down) and remove $run to start over with $brokers (local data only)"
    exit 2
  fi
  fetch
  if [ -z "$only" ] && running 1 && ready; then
    LOCAL_KAFKA="$bootstrap" "${principals[@]}" acls
    log "already running ($brokers node(s), $bootstrap)"; return 0
  fi
  mkdir -p "$run"
  if [ -f "$run/data/meta.properties" ] && [ ! -f "$run/secrets.json" ]; then
    # Storage formatted before the broker authenticated: it has no users. Local data only.
    log "storage without SCRAM users (made before authentication was on): formatting it again"
    rm -rf "$run/data"
  fi
  "${principals[@]}" secrets
  jaas=$("${principals[@]}" jaas)
  for n in $(nodes); do configure "$n"; done
  if [ ! -f "$(node_dir 1)/data/meta.properties" ]; then
    log "formatting KRaft storage for $brokers node(s) in $run, with a SCRAM user per principal"
    cluster_id=$("${java[@]}" kafka.tools.StorageTool random-uuid)
    scram=()
    while read -r line; do scram+=(--add-scram "$line"); done < <("${principals[@]}" scram-args)
    for n in $(nodes); do
      "${java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$(node_dir "$n")/server.properties" \
        "${scram[@]}" >/dev/null
    done
  fi
  echo "$brokers" > "$run/brokers"
  if [ -n "$only" ]; then
    log "starting node $only on 127.0.0.1:$(client_port "$only")"; launch "$only"
  else
    log "starting $brokers node(s) on $bootstrap"
    for n in $(nodes); do launch "$n"; done
  fi
  for _ in $(seq 1 180); do
    if ready; then
      LOCAL_KAFKA="$bootstrap" "${principals[@]}" acls
      log "ready ($brokers node(s), $bootstrap); client settings per principal in $run/clients"
      return 0
    fi
    for n in ${only:-$(nodes)}; do
      running "$n" || { log "node $n exited during start-up; see $(node_dir "$n")/logs"
                        tail -20 "$(node_dir "$n")/logs/stdout.log" >&2; return 1; }
    done
    sleep 0.5
  done
  log "not ready after 90 s; see $run"; return 1
}

stop_node() {  # node N; after $2 seconds (default 30) still up, killed
  local n=$1 patience=${2:-30} p pid
  p=$(pidfile "$n")
  running "$n" || { rm -f "$p"; return 0; }
  pid=$(cat "$p")
  log "stopping node $n (pid $pid)"
  kill -CONT "$pid" 2>/dev/null || true   # a frozen node cannot stop
  kill -TERM "$pid"
  for _ in $(seq 1 $((patience * 2))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && { log "node $n still up after $patience s; killing"; kill -KILL "$pid"; }
  rm -f "$p"
}

stop() {
  if [ -n "${1:-}" ]; then stop_node "$1"; return; fi
  if [ "$brokers" = 1 ]; then stop_node 1; return; fi
  # All at once: a node stopping after two others waits for a controller quorum that is gone
  # (its log is recovered at the next start; the page cache keeps what it wrote).
  for n in $(nodes); do stop_node "$n" 15 & done
  wait
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  status) running 1 && ready ;;
  bootstrap) echo "$bootstrap" ;;
  pid) cat "$(pidfile "${2:?usage: $0 pid N}")" ;;
  rotate) [ -n "${2:-}" ] || { echo "usage: $0 rotate USER" >&2; exit 2; }
          LOCAL_KAFKA="$bootstrap" "${principals[@]}" rotate "$2" ;;
  *) echo "usage: $0 fetch|start [N]|stop [N]|status|bootstrap|pid N|rotate USER" >&2; exit 2 ;;
esac
