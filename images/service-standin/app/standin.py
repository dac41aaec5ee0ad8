"""The service stand-in: what an EnGarde service does with the env the stack hands it, reported on GET /health.

Every env value that is a `postgresql://` URL is a DSN it connects with (libpq parses the URL itself, as the
real services' psycopg does). `DATABASE_URL` is the service's own: an Alembic migration creates its table
where the search_path puts it, and a row is written and read back. Every other DSN is a reader: it must read
the tables of its schema and be refused every write. On each DSN, the tables of every other non-system schema
are tried with SELECT and the readable ones listed. Every `redis://` URL must answer PING with its password
and refuse it without. The checks repeat in the background (every 2 s until all pass, then every 30 s), so
servers may start after the stand-in. No password or URL is ever printed or served.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
import redis
import sqlalchemy
from alembic import command
from alembic.config import Config
from psycopg import errors, sql
from sqlalchemy.pool import NullPool

PORT = 8000
"""What the stack gives EnGarde apps (topology.catalog.BACKEND_PORT)."""
PRIMARY = "DATABASE_URL"
"""The service's own DSN: its migrations and data. Every other DSN it is handed only reads."""
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD_REVISION = "0001"
TABLE = "standin_items"
"""The table the migration creates (migrations/versions/0001_standin_items.py)."""
RETRY_SECONDS, REFRESH_SECONDS = 2.0, 30.0
CONNECT_TIMEOUT = 5
STATEMENT_TIMEOUT = "5s"
SYSTEM_SCHEMAS = "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
WRITE_REFUSALS = (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)
"""A write refused by the grants, or by a hot standby (a reader's DSN may list replicas first)."""

Report = dict[str, Any]


def dsns(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in sorted(env.items()) if value.startswith(("postgresql://", "postgres://"))}


def redis_urls(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in sorted(env.items()) if value.startswith(("redis://", "rediss://"))}


def secrets_of(urls: list[str]) -> list[str]:
    """The passwords in the URLs, encoded and decoded: scrubbed from every message."""
    found = set()
    for url in urls:
        password = urlsplit(url).password
        if password:
            found.update({password, unquote(password)})
    return sorted(found, key=len, reverse=True)


class Scrubber:
    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets

    def __call__(self, error: BaseException) -> str:
        text = f"{type(error).__name__}: {error}".strip().splitlines()[0]
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


@contextmanager
def connect(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as conn:
        conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT)))
        yield conn


def identity(conn: psycopg.Connection[Any]) -> Report:
    row = conn.execute(
        "SELECT current_user, current_database(), current_schema(), current_setting('search_path'),"
        " coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false),"
        " pg_is_in_recovery()"
    ).fetchone()
    assert row is not None
    user, database, schema, search_path, tls, standby = row
    return {
        "connected": True,
        "user": user,
        "database": database,
        "current_schema": schema,
        "search_path": search_path,
        "tls": tls,
        "standby": standby,
    }


def tables(conn: psycopg.Connection[Any], *, in_schema: str | None, others: bool) -> list[tuple[str, str]]:
    """Tables, views and foreign tables in `in_schema` (others=False) or in every other non-system schema."""
    where = "n.nspname IS DISTINCT FROM %s" if others else "n.nspname = %s"
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {SYSTEM_SCHEMAS} AND {where} ORDER BY 1, 2",
        (in_schema,),
    ).fetchall()
    return [(schema, name) for schema, name in rows]


def try_select(conn: psycopg.Connection[Any], schema: str, table: str, scrub: Scrubber) -> str:
    """ "read", "refused" or the error: LIMIT 0 still checks the privilege (at executor start)."""
    query = sql.SQL("SELECT 1 FROM {}.{} LIMIT 0").format(sql.Identifier(schema), sql.Identifier(table))
    try:
        conn.execute(query)
    except errors.InsufficientPrivilege:
        return "refused"
    except psycopg.Error as error:
        return scrub(error)
    return "read"


def try_write(conn: psycopg.Connection[Any], statement: sql.Composed, scrub: Scrubber) -> str:
    """The outcome: "refused", "ALLOWED" or the error; whatever happens is rolled back."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
    except WRITE_REFUSALS:
        return "refused"
    except psycopg.Error as error:
        return scrub(error)
    return "ALLOWED"


def foreign_schemas(conn: psycopg.Connection[Any], own: str | None, scrub: Scrubber) -> Report:
    """Per other schema: each table's SELECT outcome; `readable` lists the tables that were read."""
    outcomes: dict[str, dict[str, str]] = {}
    for schema, table in tables(conn, in_schema=own, others=True):
        outcomes.setdefault(schema, {})[table] = try_select(conn, schema, table, scrub)
    readable = sorted(f"{s}.{t}" for s, by_table in outcomes.items() for t, o in by_table.items() if o == "read")
    return {"foreign_schemas": outcomes, "foreign_readable": readable}


def migrate(url: str) -> tuple[str | None, str | None]:
    """Alembic upgrade to head through the service's own DSN (under an advisory lock: backend and backend-copy
    share one). Returns the revision and the schema the table went to."""
    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT),
        poolclass=NullPool,
    )
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(hashtext('engarde-standin-migrate'))"))
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with engine.connect() as conn:
            revision = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
            schema = conn.execute(
                sqlalchemy.text(
                    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.oid = to_regclass(:table)"
                ),
                {"table": TABLE},
            ).scalar()
    finally:
        engine.dispose()
    return revision, schema


def check_primary(url: str, scrub: Scrubber) -> Report:
    report: Report = {"expect": "read-write", "connected": False}
    try:
        with connect(url) as conn:
            report.update(identity(conn))
        revision, schema = migrate(url)
        report.update(alembic_revision=revision, migrated=revision == HEAD_REVISION, tables_schema=schema)
        token = f"{socket.gethostname()}-{uuid.uuid4().hex}"
        with connect(url) as conn:
            conn.execute(sql.SQL("INSERT INTO {} (token) VALUES (%s)").format(sql.Identifier(TABLE)), (token,))
            report["row_written"] = True
            read = conn.execute(
                sql.SQL("SELECT token FROM {} WHERE token = %s").format(sql.Identifier(TABLE)), (token,)
            ).fetchone()
            report["row_read"] = read == (token,)
            report.update(foreign_schemas(conn, report["current_schema"], scrub))
    except (psycopg.Error, sqlalchemy.exc.SQLAlchemyError) as error:
        report["error"] = scrub(error)
    report["ok"] = "error" not in report and bool(
        report.get("migrated")
        and report.get("row_written")
        and report.get("row_read")
        and report.get("tables_schema") is not None
        and report.get("tables_schema") == report.get("current_schema")
    )
    return report


def check_reader(url: str, scrub: Scrubber) -> Report:
    report: Report = {"expect": "read-only", "connected": False}
    try:
        with connect(url) as conn:
            report.update(identity(conn))
            schema = report["current_schema"]  # NULL without USAGE on any schema of the search_path
            own = tables(conn, in_schema=schema, others=False) if schema else []
            reads = {table: try_select(conn, s, table, scrub) for s, table in own}
            create = sql.SQL("CREATE TABLE {}.standin_write_probe (id int)").format(sql.Identifier(schema or "public"))
            writes = {"create_table": try_write(conn, create, scrub)}
            for s, table in own:
                insert = sql.SQL("INSERT INTO {}.{} DEFAULT VALUES").format(sql.Identifier(s), sql.Identifier(table))
                writes[f"insert:{table}"] = try_write(conn, insert, scrub)
            report.update(
                tables_read=reads,
                read_ok=schema is not None and all(o == "read" for o in reads.values()),
                write_attempts=writes,
                write_refused=all(o == "refused" for o in writes.values()),
            )
            report.update(foreign_schemas(conn, schema, scrub))
    except psycopg.Error as error:
        report["error"] = scrub(error)
    report["ok"] = "error" not in report and bool(report.get("read_ok") and report.get("write_refused"))
    return report


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def check_redis(url: str, scrub: Scrubber) -> Report:
    report: Report = {}
    timeouts = {"socket_timeout": CONNECT_TIMEOUT, "socket_connect_timeout": CONNECT_TIMEOUT}
    try:
        report["auth_ping"] = bool(redis.Redis.from_url(url, **timeouts).ping())
    except redis.RedisError as error:
        report.update(auth_ping=False, auth_error=scrub(error))
    try:
        redis.Redis.from_url(without_credentials(url), **timeouts).ping()
        report["unauthenticated_refused"] = False
    except redis.AuthenticationError:
        report["unauthenticated_refused"] = True
    except redis.RedisError as error:
        report.update(unauthenticated_refused=False, unauthenticated_error=scrub(error))
    report["ok"] = bool(report["auth_ping"] and report["unauthenticated_refused"])
    return report


def run_checks(env: dict[str, str]) -> Report:
    postgres, caches = dsns(env), redis_urls(env)
    scrub = Scrubber(secrets_of([*postgres.values(), *caches.values()]))
    checks: dict[str, Callable[[str, Scrubber], Report]] = {
        name: check_primary if name == PRIMARY else check_reader for name in postgres
    }
    databases = {name: checks[name](url, scrub) for name, url in postgres.items()}
    redis_reports = {name: check_redis(url, scrub) for name, url in caches.items()}
    everything = [*databases.values(), *redis_reports.values()]
    return {
        "service": socket.gethostname(),
        "healthy": PRIMARY in databases and all(r["ok"] for r in everything),
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dsns": databases,
        "redis": redis_reports,
    }


class State:
    """The latest report, shared by the checking thread and the HTTP handlers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.report: Report = {"healthy": False, "state": "starting"}
        self.rounds = 0

    def publish(self, report: Report) -> None:
        with self.lock:
            self.rounds += 1
            self.report = {**report, "rounds": self.rounds}

    def snapshot(self) -> Report:
        with self.lock:
            return self.report


def keep_checking(state: State, env: dict[str, str]) -> None:
    was_healthy: bool | None = None
    while True:
        try:
            report = run_checks(env)
        except Exception as error:  # a bug must not stop the retries; the report says what happened
            report = {"healthy": False, "error": f"{type(error).__name__} in the stand-in"}
        state.publish(report)
        if report["healthy"] != was_healthy:
            failing = sorted(n for n, r in {**report.get("dsns", {}), **report.get("redis", {})}.items() if not r["ok"])
            print(f"standin: healthy={report['healthy']} failing={failing}", file=sys.stderr, flush=True)
            was_healthy = report["healthy"]
        time.sleep(REFRESH_SECONDS if report["healthy"] else RETRY_SECONDS)


def handler_for(state: State) -> type[BaseHTTPRequestHandler]:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/health":
                self.send_error(404)
                return
            report = state.snapshot()
            body = json.dumps(report, indent=2, sort_keys=True).encode()
            self.send_response(200 if report["healthy"] else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the healthcheck polls every few seconds: no access log

    return Health


def main() -> None:
    state = State()
    threading.Thread(target=keep_checking, args=(state, dict(os.environ)), daemon=True).start()
    ThreadingHTTPServer(("0.0.0.0", PORT), handler_for(state)).serve_forever()


if __name__ == "__main__":
    main()
