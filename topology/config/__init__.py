"""Stack config (namespace `engarde:`): typed models (pydantic), validation, and the EnGarde defaults.

Values arrive as Pulumi passes them to a program (strings; objects and booleans JSON-encoded) or already
parsed (the offline renderer reads YAML). Every refusal is one `ConfigError` naming the key path and what
is allowed, raised before any resource is registered.

    values.py      the values' constrained types (ports, host names, images, identifiers...)
    servers.py     `servers.<name>`: a model per server and mode, a union tagged by `mode`
    server_images.py  what image a container server may run
    stack.py       the top level, the other objects, and the rules spanning several of them
    resolved.py    what the layout reads: `StackConfig`, `ServerConfig`...
    refusals.py    a pydantic error as the one-line refusal; the base of every model
    notices.py     the notices and warnings of a valid config
    namespaces.py  `ConfigOrigin`, and keys of a namespace one typo from `engarde`
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topology.config.namespaces import NAMESPACE, ConfigOrigin, check_other_namespaces
from topology.config.notices import ignored_settings, scheduler_tls_warnings, unencrypted_warnings
from topology.config.refusals import validated
from topology.config.resolved import (
    BackupConfig,
    ExtraServiceConfig,
    ReplicaConfig,
    ServerConfig,
    StackConfig,
    is_loopback,
)
from topology.config.servers import DEFAULT_MAX_CONNECTIONS
from topology.config.stack import ADMIN_PASSWORD_KEYS, SCALAR_DEFAULTS, StackSettings

KNOWN_KEYS = frozenset(StackSettings.config_keys())
"""The keys of the `engarde:` namespace."""


def parse_config(raw: Mapping[str, Any], origin: ConfigOrigin | None = None) -> StackConfig:
    """Validate raw config values (keys without the `engarde:` namespace) and apply defaults.

    `origin` (what the program or the stack file says beyond the values) enables the checks that need
    it: a namespace one edit away from `engarde`, an admin password given in clear text. Without it
    (config built in code) those two are not checked.
    """
    if origin is not None:
        check_other_namespaces(origin.other_keys)
    return validated(StackSettings, dict(raw), context=origin).resolve()


def config_notices(raw: Mapping[str, Any]) -> list[str]:
    """Every notice and warning the config gives, as `pulumi preview` and `review plan` both print them (call
    after `load_topology`: the config is valid)."""
    config = parse_config(raw)
    return [*ignored_settings(raw, config), *unencrypted_warnings(config), *scheduler_tls_warnings(config)]


__all__ = [
    "ADMIN_PASSWORD_KEYS",
    "DEFAULT_MAX_CONNECTIONS",
    "KNOWN_KEYS",
    "NAMESPACE",
    "SCALAR_DEFAULTS",
    "BackupConfig",
    "ConfigOrigin",
    "ExtraServiceConfig",
    "ReplicaConfig",
    "ServerConfig",
    "StackConfig",
    "StackSettings",
    "config_notices",
    "ignored_settings",
    "is_loopback",
    "parse_config",
    "scheduler_tls_warnings",
    "unencrypted_warnings",
]
