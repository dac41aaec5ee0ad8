"""Idempotent DDL that no provider resource covers, run by a Pulumi dynamic provider.

Pulumi stores a dynamic resource's provider in the state, pickled with dill
(`pulumi.dynamic.dynamic.serialize_provider`), and unpickles it for every later operation,
destroy and refresh included. dill pickles a class it can find again by module and name BY
REFERENCE: renaming or moving that module would then break every operation on the resource. So
the provider class is made where dill cannot find it (inside a function) and is self-contained
(it imports what it uses inside its methods): it is pickled BY VALUE, and unpickles with nothing
from this project importable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic as dynamic


def _provider_class() -> type[dynamic.ResourceProvider]:
    """The provider class, defined here so dill pickles it by value (see the module docstring)."""

    class SqlScriptProvider(dynamic.ResourceProvider):
        """Runs `sql` in one transaction on create and on any change; never drops anything on delete.

        `read` (refresh) runs `exists_query`: no row means the object is gone, and the resource is
        reported gone, so the next `pulumi up` creates it again.
        """

        def _connect(self, props: dict[str, Any]) -> Any:
            import psycopg

            settings = {
                "host": props["host"],
                "port": int(props["port"]),
                "user": props["user"],
                "password": props["password"],
                "dbname": props["database"],
                "sslmode": props["sslmode"],
                "sslrootcert": props.get("sslrootcert") or None,
                "connect_timeout": 30,
            }
            return psycopg.connect(**{key: value for key, value in settings.items() if value is not None})

        def _run(self, props: dict[str, Any]) -> None:
            with self._connect(props) as connection:
                connection.execute(props["sql"])

        def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
            import hashlib

            from pulumi.dynamic import CreateResult

            self._run(props)
            return CreateResult(id_=hashlib.sha256(props["sql"].encode()).hexdigest()[:16], outs=props)

        def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
            from pulumi.dynamic import ReadResult

            if not props.get("exists_query"):
                # State written before refresh could check: keep it until the next update adds the query.
                return ReadResult(id_=id_, outs=props)
            with self._connect(props) as connection:
                row = connection.execute(props["exists_query"]).fetchone()
            if row is None:
                return ReadResult(id_=None, outs={})
            return ReadResult(id_=id_, outs=props)

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
            from pulumi.dynamic import DiffResult

            # Where the script runs counts as much as what it runs: a new host, database or
            # credential runs it again there (it is idempotent).
            watched = ("sql", "exists_query", "host", "port", "user", "password", "database", "sslmode", "sslrootcert")
            changed = [key for key in watched if olds.get(key) != news.get(key)]
            return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

        def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
            from pulumi.dynamic import UpdateResult

            self._run(news)
            return UpdateResult(outs=news)

        def delete(self, _id: str, _props: dict[str, Any]) -> None:
            """Data safety: the objects stay; dropping them is a reviewed, manual step."""

    return SqlScriptProvider


_PROVIDER_CLASS = _provider_class()

_SqlScriptProvider = _PROVIDER_CLASS
"""Where states written before the provider was pickled by value find it: their pickle names this
module and `_SqlScriptProvider`, and `pulumi refresh` / `destroy` unpickle the provider from the
state. dill still pickles the class by value: it looks it up by its `__qualname__`, which is not this."""


def sql_script_provider() -> dynamic.ResourceProvider:
    """A provider instance (what Pulumi serializes into the state)."""
    return _PROVIDER_CLASS()


@dataclass
class SqlScriptArgs:
    """Inputs of a SQL script resource."""

    host: pulumi.Input[str]
    """Server host the script connects to."""
    port: pulumi.Input[int]
    """Server port."""
    user: pulumi.Input[str]
    """Admin role."""
    password: pulumi.Input[str]
    """Admin password (secret)."""
    database: pulumi.Input[str]
    """Database the script runs in."""
    sslmode: str
    """libpq sslmode."""
    sql: str
    """Idempotent SQL, run in one transaction."""
    exists_query: str
    """A query returning a row while what `sql` creates exists (refresh runs it)."""
    sslrootcert: str | None = None
    """CA bundle that verifies the server (sslmode verify-ca / verify-full)."""


@dataclass
class AdminEndpoint:
    """Where a server's SQL scripts connect: its admin, as the server's provider does."""

    host: pulumi.Input[str]
    """Server host."""
    port: pulumi.Input[int]
    """Server port."""
    user: str
    """Admin role."""
    password: pulumi.Input[str]
    """Admin password (secret)."""
    sslmode: str
    """libpq sslmode."""
    sslrootcert: str | None = None
    """CA bundle that verifies the server (sslmode verify-ca / verify-full)."""

    def script(self, database: pulumi.Input[str], sql: str, exists_query: str) -> SqlScriptArgs:
        """The arguments of a script run in `database` through this endpoint."""
        return SqlScriptArgs(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            sslmode=self.sslmode,
            sslrootcert=self.sslrootcert,
            sql=sql,
            exists_query=exists_query,
        )


class SqlScript(dynamic.Resource):
    """Idempotent DDL run in one transaction (type `pulumi-python:dynamic:Resource`, input `sql`)."""

    def __init__(self, name: str, args: SqlScriptArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            sql_script_provider(),
            name,
            {
                "host": args.host,
                "port": args.port,
                "user": args.user,
                "password": pulumi.Output.secret(args.password),
                "database": args.database,
                "sslmode": args.sslmode,
                "sslrootcert": args.sslrootcert,
                "sql": args.sql,
                "exists_query": args.exists_query,
            },
            opts,
        )
