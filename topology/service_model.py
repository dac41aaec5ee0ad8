"""The service containers as plain, typed, immutable values: their environment, healthcheck and the secrets
the stack generates for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# Values a service's environment variable can take.


@dataclass(frozen=True)
class Text:
    """A plain, non-secret value."""

    value: str


@dataclass(frozen=True)
class PostgresUrl:
    """A postgresql:// DSN for a login role (secret)."""

    server: str
    role: str
    search_path: tuple[str, ...] = ()
    pooled: bool = False
    """Through the server's pooler (no `options`: the role-level search_path applies there)."""
    read_only: bool = False
    """A reader's DSN: lists the server's replicas first and prefers a standby (libpq multi-host)."""
    replica: str | None = None
    """That one replica only (its exporter); None: the primary, or the replicas for `read_only`."""
    explicit_sslmode: bool = False
    """The client is Go's lib/pq (postgres_exporter), whose default sslmode is `require`: where the
    server's DSNs name none (containers on the stack's network), this one says `sslmode=disable`."""


@dataclass(frozen=True)
class RolePassword:
    """The generated password of a login role or MySQL user (secret)."""

    server: str
    role: str


@dataclass(frozen=True)
class GeneratedSecret:
    """A stack-generated secret such as an application key (secret)."""

    name: str


@dataclass(frozen=True)
class RedisUrl:
    """redis:// URL with the generated password (secret)."""

    database: int = 0


EnvValue = Text | PostgresUrl | RolePassword | GeneratedSecret | RedisUrl


@dataclass(frozen=True)
class Healthcheck:
    """A container healthcheck (Docker `CMD-SHELL` form). Durations are written as Go's
    `time.Duration.String()` writes them (`3m0s`, not `180s`): the docker provider reads them back in that
    form, and any other spelling is a diff on every `pulumi up`."""

    command: str
    interval: str = "10s"
    timeout: str = "5s"
    retries: int = 10
    start_period: str = "30s"


@dataclass(frozen=True)
class Service:
    """A service container and the settings wired into it."""

    name: str
    """Service name: container suffix and network alias."""
    image: str | None
    """Image reference (tag or digest, never `latest`); None for a consumer that only reads the outputs."""
    port: int | None
    """Port the service listens on inside the network."""
    env: dict[str, EnvValue] = field(default_factory=dict)
    """Environment contract (the variable names are part of the contract: docs/outputs.md)."""
    healthcheck: Healthcheck | None = None
    """Optional container healthcheck."""
    files: dict[str, str] = field(default_factory=dict)
    """Files uploaded into the container: path -> content (e.g. an exporter's queries)."""

    @property
    def logins(self) -> tuple[tuple[str, str], ...]:
        """(server, role) of every credential in its env, once each, in env order."""
        credentials = (v for v in self.env.values() if isinstance(v, (PostgresUrl, RolePassword)))
        return tuple(dict.fromkeys((value.server, value.role) for value in credentials))

    @property
    def pooled_servers(self) -> tuple[str, ...]:
        """Servers it reaches through their pooler."""
        return tuple(dict.fromkeys(v.server for v in self.env.values() if isinstance(v, PostgresUrl) and v.pooled))


class SecretKind(StrEnum):
    """What a generated secret is, so it is generated in the form its consumer accepts."""

    PASSWORD = "password"
    """`length` characters (RandomPassword)."""
    FERNET_KEY = "fernet-key"
    """`length` random bytes in url-safe base64 with padding: a Fernet key when `length` is 32."""


@dataclass(frozen=True)
class GeneratedSecretSpec:
    """A secret the stack generates."""

    name: str
    length: int
    special: bool
    kind: SecretKind = SecretKind.PASSWORD


@dataclass(frozen=True)
class Redis:
    """The password-protected Redis cache."""

    image: str
    alias: str = "redis"
    port: int = 6379
