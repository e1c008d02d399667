#!/usr/bin/env bash
# The local PostgreSQL: Debian's `postgresql` package, installed if missing, its cluster
# started, and a role and database for the project. Skipped when DATABASE_URL is set:
# the project then uses that server as it is.
#   postgres.sh start | stop | status | url
set -euo pipefail
role=${PGROLE:-complaints}
password=${PGPASSWORD_LOCAL:-complaints}
database=${PGDATABASE_LOCAL:-complaints}
port=${PGPORT_LOCAL:-5432}
default_url="postgresql://$role:$password@127.0.0.1:$port/$database"
root=$(cd "$(dirname "$0")/../.." && pwd)
started="$root/.run/postgres.started"  # the cluster this project started, and only it, is stopped

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
  as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password';
  END IF;
END \$\$;
SQL
  if ! as_postgres psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1; then
    as_postgres createdb -p "$port" -O "$role" "$database"
  fi
  log "ready at $default_url"
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
  psql "$default_url" -tAc 'select 1' >/dev/null 2>&1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "${DATABASE_URL:-$default_url}" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
