#!/bin/sh
# The entrypoint of engarde.local/postgres: the official postgres image's contract as the stack uses it.
#   env       POSTGRES_PASSWORD (required on a fresh data directory), POSTGRES_USER (default postgres),
#             POSTGRES_DB (default: the user), PGDATA (default /var/lib/postgresql/data)
#   command   `postgres [-c name=value ...]`; a first argument starting with `-` means `postgres <args>`;
#             anything else (a backup job's `sh -c ...`) runs as given
#   first start  initdb, then /docker-entrypoint-initdb.d/*.sh and *.sql (in name order) against a
#             temporary server listening on the socket only, then the real server on every address
# PostgreSQL refuses to run as root: started as root, this script re-runs itself as `postgres`.
set -eu

case "${1:-postgres}" in
-*) set -- postgres "$@" ;;
esac
if [ "${1:-}" != postgres ]; then
  exec "$@"
fi

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/var/lib/postgresql "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "entrypoint: POSTGRES_PASSWORD must be set to initialise $PGDATA (the superuser's password)" >&2
    exit 1
  fi
  user=${POSTGRES_USER:-postgres}
  database=${POSTGRES_DB:-$user}
  # The password reaches initdb through a file only this user can read, never a command line.
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
  initdb --username="$user" --pwfile="$password_file" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  # Like the official image: every address, SCRAM from anywhere, trust on the container's own socket.
  printf '%s\n' "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  printf '%s\n' "listen_addresses = '*'" "password_encryption = 'scram-sha-256'" >>"$PGDATA/postgresql.conf"

  pg_ctl --pgdata="$PGDATA" --wait --silent --options="-c listen_addresses=''" start
  export PGUSER="$user"
  if [ "$database" != postgres ]; then
    psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --dbname=postgres -v database="$database" <<'SQL'
CREATE DATABASE :"database";
SQL
  fi
  for file in /docker-entrypoint-initdb.d/*; do
    case "$file" in
    *.sh)
      echo "entrypoint: running $file"
      if [ -x "$file" ]; then "$file"; else sh "$file"; fi
      ;;
    *.sql)
      echo "entrypoint: running $file"
      psql --no-psqlrc -v ON_ERROR_STOP=1 --dbname="$database" --file="$file"
      ;;
    *.sql.gz)
      echo "entrypoint: running $file"
      gzip -dc "$file" | psql --no-psqlrc -v ON_ERROR_STOP=1 --dbname="$database"
      ;;
    esac
  done
  unset PGUSER
  pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
  echo "entrypoint: $PGDATA initialised; starting the server"
fi

exec "$@"
