"""Idempotent DDL that no provider resource covers, run by a Pulumi dynamic provider."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic as dynamic


class _SqlScriptProvider(dynamic.ResourceProvider):
    """Runs `sql` in one transaction on create and when it changes; never drops anything on delete."""

    def _run(self, props: dict[str, Any]) -> None:
        import psycopg  # imported where the provider runs

        with psycopg.connect(
            host=props["host"],
            port=int(props["port"]),
            user=props["user"],
            password=props["password"],
            dbname=props["database"],
            sslmode=props["sslmode"],
            connect_timeout=30,
        ) as connection:
            connection.execute(props["sql"])

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        self._run(props)
        return dynamic.CreateResult(id_=hashlib.sha256(props["sql"].encode()).hexdigest()[:16], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in ("sql", "database", "host", "port") if olds.get(key) != news.get(key)]
        return dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        self._run(news)
        return dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Data safety: the objects stay; dropping them is a reviewed, manual step."""


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


class SqlScript(dynamic.Resource):
    """Idempotent DDL run in one transaction (type `pulumi-python:dynamic:Resource`, input `sql`)."""

    def __init__(self, name: str, args: SqlScriptArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            _SqlScriptProvider(),
            name,
            {
                "host": args.host,
                "port": args.port,
                "user": args.user,
                "password": pulumi.Output.secret(args.password),
                "database": args.database,
                "sslmode": args.sslmode,
                "sql": args.sql,
            },
            opts,
        )
