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
    character_set: str = "utf8mb4"
    """Default character set of the database."""
    collation: str = "utf8mb4_unicode_ci"
    """Default collation of the database."""
    adopt: bool = False
    """The database exists already (with data): import it (its name is its ID) instead of creating it."""
    tls_option: str | None = None
    """The user's REQUIRE clause (the mysql provider's `tls_option`): SSL where the server's connections use TLS."""


class SchedulerDatabase(pulumi.ComponentResource):
    """A database and a user with all privileges on it and nothing else.

    EasyAppointments writes its settings with `sed` into PHP strings: the password is alphanumeric.
    """

    database: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(self, name: str, args: SchedulerDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:SchedulerDatabase", name, None, opts)
        spec = args.user
        # Imported, its inputs must equal what the provider reads: `SHOW CREATE DATABASE`'s
        # charset and collation (hashicorp/terraform-provider-mysql resource_database.go: ReadDatabase).
        database = mysql.Database(
            name,
            name=spec.database,
            default_character_set=args.character_set,
            default_collation=args.collation,
            opts=child(
                self, provider=args.provider, protect=args.protect, import_=spec.database if args.adopt else None
            ),
        )
        self.password = secret_password(f"{name}-password", length=32, special=False, parent=self)
        user = mysql.User(
            f"{name}-user",
            user=spec.name,
            host="%",
            plaintext_password=self.password,
            tls_option=args.tls_option,
            # A new option replaces the user (ForceNew); users made before keep theirs (docs/configuration.md, Servers).
            opts=child(self, provider=args.provider, protect=args.protect, ignore_changes=["tlsOption"]),
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
