"""Logical backups as plain values: the backup logins, one job per database, and the script each job runs.

A job dumps its database on a fixed interval into `<BACKUP_DIR>/<server>/`, keeps the newest `keep`
dumps, and writes `<BACKUP_DIR>/metrics/<server>.prom` (Prometheus text format, for node_exporter's
textfile collector) with the time of its last successful backup: the alert on a stale backup reads it.
"""

from __future__ import annotations

from topology.catalog import BACKUP_ROLE, ENGINES
from topology.config import BackupConfig
from topology.model import BackupJob, Engine, EnvValue, PostgresUrl, Role, RolePassword, Server, Service, Text

"""PostgreSQL backup login, one per server."""
READ_ALL_DATA = "pg_read_all_data"
"""PostgreSQL 14+: SELECT on every table and sequence and USAGE on every schema, present and future."""
MYSQL_BACKUP_USER = "scheduler_backup"
MYSQL_BACKUP_PRIVILEGES = ("SELECT", "SHOW VIEW", "TRIGGER")
"""What `mysqldump --single-transaction --no-tablespaces` needs on one database: rows (SELECT), view
definitions (SHOW VIEW), trigger definitions (TRIGGER). No LOCK TABLES (the dump reads one consistent
transaction and locks nothing), no EVENT (events and routines are not dumped: the scheduler has none),
no PROCESS (`--no-tablespaces`)."""
BACKUP_DIR = "/backups"
DUMP_EXTENSIONS = {Engine.POSTGRESQL: "dump", Engine.MYSQL: "sql.gz"}
LAST_SUCCESS_METRIC = "engarde_backup_last_success_timestamp_seconds"
SIZE_METRIC = "engarde_backup_size_bytes"


def backup_role(server: str) -> Role:
    """The PostgreSQL backup login of `server`: reads everything, writes nothing, owns nothing."""
    return Role(server, BACKUP_ROLE, login=True, member_of=(READ_ALL_DATA,), description="backup job (pg_dump)")


def backup_jobs(servers: dict[str, Server], config: BackupConfig) -> tuple[BackupJob, ...]:
    """One job per server of the stack, logging in as that server's backup login."""
    return tuple(
        BackupJob(
            server=name,
            engine=server.engine,
            database=server.database,
            login=BACKUP_ROLE if server.engine is Engine.POSTGRESQL else MYSQL_BACKUP_USER,
            service=backup_service_name(name),
            image=server.image or ENGINES[server.engine].image,
            interval_seconds=config.interval_seconds,
            keep=config.keep,
        )
        for name, server in servers.items()
    )


def backup_service_name(server: str) -> str:
    """The backup job of `server` in the `services` output (and its dev container)."""
    return f"backup-{server}"


def backup_service(job: BackupJob, server: Server) -> Service:
    """The job's env contract (the `services` output); the dev container is built from it."""
    env: dict[str, EnvValue] = {
        "BACKUP_NAME": Text(job.server),
        "BACKUP_DIR": Text(BACKUP_DIR),
        "BACKUP_INTERVAL_SECONDS": Text(str(job.interval_seconds)),
        "BACKUP_KEEP": Text(str(job.keep)),
    }
    if job.engine is Engine.POSTGRESQL:
        env["BACKUP_DATABASE_URL"] = PostgresUrl(job.server, job.login)
    else:
        env |= {
            "BACKUP_MYSQL_HOST": Text(server.service_host),
            "BACKUP_MYSQL_PORT": Text(str(server.service_port)),
            "BACKUP_MYSQL_DATABASE": Text(job.database),
            "BACKUP_MYSQL_USER": Text(job.login),
            "BACKUP_MYSQL_PASSWORD": RolePassword(job.server, job.login),
        }
    return Service(job.service, None, None, env)


_DUMP_FUNCTIONS = {
    Engine.POSTGRESQL: 'dump() { pg_dump --format=custom --compress=6 --dbname="$BACKUP_DATABASE_URL" --file="$1"; }',
    # The password reaches mysqldump through a 0600 option file, never its command line.
    Engine.MYSQL: (
        "dump() {\n"
        '  printf \'[client]\\npassword=%s\\n\' "$BACKUP_MYSQL_PASSWORD" > "$dir/.my.cnf"\n'
        '  mysqldump --defaults-extra-file="$dir/.my.cnf" --host="$BACKUP_MYSQL_HOST" --port="$BACKUP_MYSQL_PORT" \\\n'
        '    --user="$BACKUP_MYSQL_USER" --single-transaction --no-tablespaces --triggers \\\n'
        '    "$BACKUP_MYSQL_DATABASE" > "$1.sql" && gzip -c "$1.sql" > "$1"\n'
        '  status=$?; rm -f "$1.sql" "$dir/.my.cnf"; return $status\n'
        "}"
    ),
}

_LOOP = r"""set -u
umask 077
dir="$BACKUP_DIR/$BACKUP_NAME"
mkdir -p "$dir" "$BACKUP_DIR/metrics"
{dump}
while :; do
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  file="$dir/$BACKUP_NAME-$stamp.{ext}"
  if dump "$dir/.partial"; then
    status=0
    mv "$dir/.partial" "$file"
    ls "$dir" | grep -E "^$BACKUP_NAME-[0-9]{{8}}T[0-9]{{6}}Z\.{ext_re}\$" | sort -r \
      | tail -n +$((BACKUP_KEEP + 1)) | while read -r old; do rm -f "$dir/$old"; done
    size=$(wc -c < "$file")
    {{
      echo "# HELP {last} Unix time of the last successful backup."
      echo "# TYPE {last} gauge"
      echo "{last}{{database=\"$BACKUP_NAME\"}} $(date +%s)"
      echo "# HELP {size} Size of the newest dump."
      echo "# TYPE {size} gauge"
      echo "{size}{{database=\"$BACKUP_NAME\"}} $size"
    }} > "$BACKUP_DIR/metrics/.$BACKUP_NAME.prom"
    mv "$BACKUP_DIR/metrics/.$BACKUP_NAME.prom" "$BACKUP_DIR/metrics/$BACKUP_NAME.prom"
    echo "backup written: $file ($size bytes)"
  else
    status=1
    rm -f "$dir/.partial"
    echo "backup of $BACKUP_NAME failed; earlier dumps are kept" >&2
  fi
  if [ "${{BACKUP_ONCE:-0}}" = 1 ]; then exit $status; fi
  sleep "$BACKUP_INTERVAL_SECONDS"
done
"""


def job_script(engine: Engine) -> str:
    """The job's POSIX sh script (the container's command); `BACKUP_ONCE=1` runs one backup and exits."""
    ext = DUMP_EXTENSIONS[engine]
    return _LOOP.format(
        dump=_DUMP_FUNCTIONS[engine],
        ext=ext,
        ext_re=ext.replace(".", r"\."),
        last=LAST_SUCCESS_METRIC,
        size=SIZE_METRIC,
    )
