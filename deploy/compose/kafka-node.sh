#!/usr/bin/env bash
# Start one compose Kafka node with authentication on (the apache/kafka image's own start
# script formats storage without SCRAM users). Reads the node's secrets volume, made by the
# compose `secrets` service (deploy/kafka/principals.py compose):
#   node.pem (key + certificate), ca.pem, broker.jaas (its SCRAM login), scram.args (the users
#   the storage is formatted with: admin and broker; the rest are made over the admin API).
# Env: NODE_ID, VOTERS (1@kafka-1:9093,...), CLUSTER_ID; optional ADVERTISED_HOST (default
# the host name), BIND, CLIENT_PORT, CONTROLLER_PORT, REPLICATION, MIN_ISR, SECRETS, DATA_DIR,
# KAFKA_STORAGE / KAFKA_START (the image's bin scripts).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${NODE_ID:?}" "${VOTERS:?}" "${CLUSTER_ID:?}"
secrets=${SECRETS:-/etc/kafka/secrets}
data=${DATA_DIR:-/var/lib/kafka/data}
config=${CONFIG:-/tmp/server.properties}
storage=${KAFKA_STORAGE:-/opt/kafka/bin/kafka-storage.sh}
start=${KAFKA_START:-/opt/kafka/bin/kafka-server-start.sh}
for f in node.pem ca.pem broker.jaas scram.args; do
  [ -r "$secrets/$f" ] || { echo "kafka-node: $secrets/$f missing: run the secrets service first" >&2; exit 1; }
done
jaas=$(cat "$secrets/broker.jaas")
umask 077
sed -e "s#@NODE_ID@#$NODE_ID#" -e "s#@VOTERS@#$VOTERS#" -e "s#@BIND@#${BIND:-0.0.0.0}#g" \
    -e "s#@CLIENT_PORT@#${CLIENT_PORT:-9092}#g" -e "s#@CONTROLLER_PORT@#${CONTROLLER_PORT:-9093}#g" \
    -e "s#@ADVERTISED_HOST@#${ADVERTISED_HOST:-$(hostname)}#" -e "s#@BROKER_JAAS@#$jaas#" \
    -e "s#@SECRETS@#$secrets#g" -e "s#@DATA_DIR@#$data#" \
    -e "s#@REPLICATION@#${REPLICATION:-3}#g" -e "s#@MIN_ISR@#${MIN_ISR:-2}#g" \
    "${TEMPLATE:-$here/kafka-node.properties}" > "$config"
if [ ! -f "$data/meta.properties" ]; then
  scram=()
  while read -r line; do [ -n "$line" ] && scram+=(--add-scram "$line"); done < "$secrets/scram.args"
  "$storage" format -t "$CLUSTER_ID" -c "$config" "${scram[@]}" >/dev/null
  echo "kafka-node: storage formatted with SCRAM users admin and broker" >&2
fi
exec "$start" "$config"
