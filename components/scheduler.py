"""The scheduler's MySQL database and its user (EasyAppointments supports MySQL only)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_mysql as mysql

from components.common import TYPE_PREFIX, child, secret_password
from topology.model import DatabaseUser


@dataclass
class SchedulerDatabaseArgs:
    """Inputs of the scheduler database component."""

    user: DatabaseUser
    """The user and its database, as the topology describes them."""
    provider: mysql.Provider
    """Provider of the MySQL server."""
    protect: bool = False
    """Protect the database (prod)."""


class SchedulerDatabase(pulumi.ComponentResource):
    """A database and a user with all privileges on it and nothing else.

    EasyAppointments writes its settings with `sed` into PHP strings: the password is alphanumeric.
    """

    database: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(self, name: str, args: SchedulerDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:SchedulerDatabase", name, None, opts)
        spec = args.user
        database = mysql.Database(
            name,
            name=spec.database,
            default_character_set="utf8mb4",
            default_collation="utf8mb4_unicode_ci",
            opts=child(self, provider=args.provider, protect=args.protect),
        )
        self.password = secret_password(f"{name}-password", length=32, special=False, parent=self)
        user = mysql.User(
            f"{name}-user",
            user=spec.name,
            host="%",
            plaintext_password=self.password,
            opts=child(self, provider=args.provider, protect=args.protect),
        )
        mysql.Grant(
            f"{name}-grant",
            user=user.user,
            host=user.host,
            database=database.name,
            privileges=["ALL PRIVILEGES"],
            opts=child(self, provider=args.provider),
        )
        self.database = database.name
        self.register_outputs({"database": self.database})
