"""Every Pulumi type token the review tools, the policy pack, the benchmarks and the tests look for,
spelled here once.

Plain strings with no import, so the policy pack (whose runtime has no provider SDKs) and the
review tools share them. The program itself gets provider tokens from the provider SDKs and its
component prefix from here (`components.common.TYPE_PREFIX` is `COMPONENT_PREFIX`).
"""

from __future__ import annotations

from typing import Final

POSTGRESQL_PREFIX: Final = "postgresql:index/"
MYSQL_PREFIX: Final = "mysql:index/"

PG_ROLE: Final = POSTGRESQL_PREFIX + "role:Role"
PG_GRANT: Final = POSTGRESQL_PREFIX + "grant:Grant"
PG_DEFAULT_PRIVILEGES: Final = POSTGRESQL_PREFIX + "defaultPrivileges:DefaultPrivileges"
PG_SCHEMA: Final = POSTGRESQL_PREFIX + "schema:Schema"
PG_GRANT_ROLE: Final = POSTGRESQL_PREFIX + "grantRole:GrantRole"
PG_DATABASE: Final = POSTGRESQL_PREFIX + "database:Database"
PG_PHYSICAL_SLOT: Final = POSTGRESQL_PREFIX + "physicalReplicationSlot:PhysicalReplicationSlot"
PG_EXTENSION: Final = POSTGRESQL_PREFIX + "extension:Extension"
PG_FOREIGN_SERVER: Final = POSTGRESQL_PREFIX + "server:Server"
PG_USER_MAPPING: Final = POSTGRESQL_PREFIX + "userMapping:UserMapping"

MYSQL_DATABASE: Final = MYSQL_PREFIX + "database:Database"
MYSQL_USER: Final = MYSQL_PREFIX + "user:User"
MYSQL_GRANT: Final = MYSQL_PREFIX + "grant:Grant"

CONTAINER: Final = "docker:index/container:Container"
VOLUME: Final = "docker:index/volume:Volume"
NETWORK: Final = "docker:index/network:Network"

RANDOM_PASSWORD: Final = "random:index/randomPassword:RandomPassword"
RANDOM_BYTES: Final = "random:index/randomBytes:RandomBytes"

DYNAMIC_RESOURCE: Final = "pulumi-python:dynamic:Resource"
"""The SQL script (`components/sql_script.py`): a dynamic provider's resource, without a provider resource."""

PROVIDER_PREFIX: Final = "pulumi:providers:"
POSTGRES_PROVIDER: Final = PROVIDER_PREFIX + "postgresql"
MYSQL_PROVIDER: Final = PROVIDER_PREFIX + "mysql"

STACK: Final = "pulumi:pulumi:Stack"

COMPONENT_PREFIX: Final = "engarde:index"
"""The program's component types: `components.common.TYPE_PREFIX`."""
POSTGRES_SERVER: Final = COMPONENT_PREFIX + ":PostgresServer"
MYSQL_SERVER: Final = COMPONENT_PREFIX + ":MysqlServer"
SERVER_COMPONENTS: Final = (POSTGRES_SERVER, MYSQL_SERVER)
DATABASE_ROLE: Final = COMPONENT_PREFIX + ":DatabaseRole"
GENERATED_SECRETS: Final = COMPONENT_PREFIX + ":GeneratedSecrets"
