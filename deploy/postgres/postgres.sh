#!/usr/bin/env bash
# The local PostgreSQL: Debian's `postgresql` package, installed if missing, its cluster
# started, and the project's database and roles, none of them a superuser:
#   complaints          owns the tables: migrations and the sink's writes
#   complaints_reports  reads the record (the SLA reports, the summary)
#   complaints_console  reads the record, keeps the office accounts (the console)
# Each role's password is generated on the first start (.run/postgres/<role>.password, 600)
# and set again on every start; .run/postgres/<client>.url gives each client its URL
# (sink, reports, console: schemas/settings.py reads them). What a role may touch is
# granted by the migrations (sinks/migrations/post-apply.sql).
# Skipped when DATABASE_URL is set: the project then uses that server as it is.
#   postgres.sh start | stop | status | url
set -euo pipefail
role=complaints
database=${PGDATABASE_LOCAL:-complaints}
port=${PGPORT_LOCAL:-5432}
root=$(cd "$(dirname "$0")/../.." && pwd)
secrets="$root/.run/postgres"
started="$root/.run/postgres.started"  # the cluster this project started, and only it, is stopped
# client (the .url file) -> PostgreSQL role
declare -A clients=([sink]=complaints [reports]=complaints_reports [console]=complaints_console)

log() { echo "postgres: $*" >&2; }

install() {
  command -v pg_lsclusters >/dev/null 2>&1 && [ -n "$(ls /usr/lib/postgresql 2>/dev/null)" ] && return 0
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
}

cluster() {
  # The newest installed major version and its first cluster (Debian creates "main").
  local version name
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  name=$(pg_lsclusters -h | awk -v v="$version" '$1==v {print $2; exit}')
  if [ -z "$name" ]; then
    name=main
    log "creating cluster $version/$name"
    pg_createcluster -p "$port" "$version" "$name" >/dev/null
  fi
  echo "$version $name"
}

# From /: the postgres user may not enter the project's directory.
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

password_of() {  # generated once per install, never a fixed string
  local file="$secrets/$1.password"
  if [ ! -s "$file" ]; then
    mkdir -p "$secrets" && chmod 700 "$secrets"
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$file")
  fi
  cat "$file"
}

url_of() { echo "postgresql://$1:$(password_of "$1")@127.0.0.1:$port/$database"; }

start() {
  if [ -n "${DATABASE_URL:-}" ]; then log "DATABASE_URL is set; using that server"; return 0; fi
  install
  read -r version name < <(cluster)
  if ! pg_lsclusters -h | awk -v v="$version" -v n="$name" '$1==v && $2==n {print $4}' | grep -q online; then
    log "starting cluster $version/$name"
    (cd / && pg_ctlcluster "$version" "$name" start)
    mkdir -p "$(dirname "$started")"
    echo "$version $name" >"$started"
  fi
  for _ in $(seq 1 60); do as_postgres pg_isready -q -p "$port" && break; sleep 0.5; done
  local r sql=""
  for r in complaints complaints_reports complaints_console; do
    # Passwords go to psql on its standard input, never on a command line.
    sql+="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$r') THEN CREATE ROLE $r LOGIN; END IF;
END \$\$;
ALTER ROLE $r LOGIN NOSUPERUSER PASSWORD '$(password_of "$r")';
"
  done
  sql+="ALTER ROLE complaints CREATEDB;"  # the tests make a database of their own
  as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 <<<"$sql" >/dev/null
  if ! as_postgres psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1; then
    as_postgres createdb -p "$port" -O "$role" "$database"
  fi
  for client in "${!clients[@]}"; do
    (umask 077 && url_of "${clients[$client]}" >"$secrets/$client.url")
  done
  log "ready at postgresql://127.0.0.1:$port/$database (roles complaints, complaints_reports, complaints_console; URLs in .run/postgres/*.url)"
}

stop() {
  [ -n "${DATABASE_URL:-}" ] && return 0
  [ -f "$started" ] || return 0  # not started by this project: left as it is
  read -r v n <"$started"
  if pg_lsclusters -h | awk -v v="$v" -v n="$n" '$1==v && $2==n {print $4}' | grep -q online; then
    log "stopping cluster $v/$n"
    (cd / && pg_ctlcluster "$v" "$n" stop)
  fi
  rm -f "$started"
}

status() {
  if [ -n "${DATABASE_URL:-}" ]; then psql "$DATABASE_URL" -tAc 'select 1' >/dev/null; return; fi
  psql "$(url_of "$role")" -tAc 'select 1' >/dev/null 2>&1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "${DATABASE_URL:-$(url_of "$role")}" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
