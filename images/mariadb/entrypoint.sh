#!/bin/sh
# The entrypoint of engarde.local/mariadb: the official mysql/mariadb images' contract as the stack uses it.
#   env       MYSQL_ROOT_PASSWORD (or MARIADB_ROOT_PASSWORD; required on a fresh data directory): root logs
#             in with it from anywhere, over TCP or the socket
#   command   `mysqld [options]` (the default) or `mariadbd [options]`; a first argument starting with `-`
#             means `mysqld <args>`; anything else (a backup job's `sh -c ...`) runs as given
#   first start  /var/lib/mysql initialised, then /docker-entrypoint-initdb.d/*.sh and *.sql (in name order)
#             against a temporary server without networking, then the real server on 0.0.0.0:3306
# Started as root, this script re-runs itself as `mysql`, the owner of the data directory.
set -eu

case "${1:-mysqld}" in
-*) set -- mysqld "$@" ;;
esac
case "${1:-}" in
mysqld | mariadbd) ;;
*) exec "$@" ;;
esac

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$DATADIR" /run/mysqld
  chown mysql:mysql "$DATADIR" /run/mysqld
  exec setpriv --reuid=mysql --regid=mysql --init-groups env HOME=/var/lib/mysql "$0" "$@"
fi

# As the OS user `mysql`, which the fresh data directory lets in on the socket (unix_socket), no password.
as_local_admin() { mysql --protocol=socket --socket="$SOCKET" --user=mysql "$@"; }

if [ ! -d "$DATADIR/mysql" ]; then
  password=${MYSQL_ROOT_PASSWORD:-${MARIADB_ROOT_PASSWORD:-}}
  if [ -z "$password" ]; then
    echo "entrypoint: MYSQL_ROOT_PASSWORD must be set to initialise $DATADIR (root's password)" >&2
    exit 1
  fi
  mysql_install_db --datadir="$DATADIR" --user=mysql --skip-test-db --auth-root-authentication-method=socket \
    >/dev/null
  "$@" --skip-networking --socket="$SOCKET" &
  server=$!
  for _ in $(seq 1 60); do
    if as_local_admin --execute="SELECT 1" >/dev/null 2>&1; then break; fi
    sleep 1
  done
  # An SQL string literal of the password (backslashes and quotes escaped); it reaches mysql on stdin only.
  literal=$(printf '%s' "$password" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")
  as_local_admin <<SQL
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('$literal') OR unix_socket;
CREATE USER 'root'@'%' IDENTIFIED BY '$literal';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
DROP DATABASE IF EXISTS test;
SQL
  for file in /docker-entrypoint-initdb.d/*; do
    case "$file" in
    *.sh)
      echo "entrypoint: running $file"
      if [ -x "$file" ]; then "$file"; else sh "$file"; fi
      ;;
    *.sql)
      echo "entrypoint: running $file"
      as_local_admin <"$file"
      ;;
    *.sql.gz)
      echo "entrypoint: running $file"
      gzip -dc "$file" | as_local_admin
      ;;
    esac
  done
  as_local_admin --execute="SHUTDOWN"
  wait "$server"
  echo "entrypoint: $DATADIR initialised; starting the server"
fi

exec "$@"
