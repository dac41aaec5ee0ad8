"""The notices and warnings a valid config gives, as `pulumi preview` and `review plan` both print them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topology.config.namespaces import NAMESPACE
from topology.config.refusals import validated
from topology.config.resolved import ServerConfig, StackConfig, is_loopback
from topology.config.servers import ENGINE_ONLY_SETTINGS
from topology.config.stack import StackSettings
from topology.config.values import PLAINTEXT_SSLMODES
from topology.model import Mode


def ignored_settings(raw: Mapping[str, Any], config: StackConfig) -> list[str]:
    """One notice per setting the raw config holds but the stack (`config`, parsed from it) does not use."""
    notices = []
    for name, settings in validated(StackSettings, dict(raw)).servers.settings().items():
        given = [key for key in type(settings).config_keys() if settings.given(key)]
        if name not in config.servers:
            notices += [
                f"notice: {NAMESPACE}:servers.{name}.{key} is ignored: langflowPlacement is shared" for key in given
            ]
            continue
        server = config.servers[name]
        notices += [
            f"notice: {NAMESPACE}:servers.{name}.{key} is ignored: {_ignored_because(server, key)}"
            for key in settings.ignored
            if key in given
        ]
    return notices


def _ignored_because(server: ServerConfig, key: str) -> str:
    for engine, keys in ENGINE_ONLY_SETTINGS.items():
        if key in keys and server.engine is not engine:
            return f"it applies to {engine.value} servers only, and {server.name} is a {server.engine.value} server"
    return f"servers.{server.name}.mode is {server.mode.value}"


def unencrypted_warnings(config: StackConfig) -> list[str]:
    """One warning per external server allowed to connect without TLS off this machine."""
    return [
        f"warning: {NAMESPACE}:servers.{name}.sslmode is {server.sslmode}: connections to {server.host} may go "
        f"unencrypted (servers.{name}.allowUnencrypted is true)"
        for name, server in config.servers.items()
        if server.mode is Mode.EXTERNAL
        and server.sslmode in PLAINTEXT_SSLMODES
        and server.host is not None
        and not is_loopback(server.host)
    ]


def scheduler_tls_warnings(config: StackConfig) -> list[str]:
    """EasyAppointments 1.5.0 cannot be told to use TLS through its env (CodeIgniter's mysqli driver with
    `encrypt` unset): where the scheduler's server is reached with TLS, its user does not require it, and
    this says so."""
    server = config.servers.get("scheduler")
    if server is None or server.mode is not Mode.EXTERNAL or server.sslmode in PLAINTEXT_SSLMODES:
        return []
    return [
        f"warning: {NAMESPACE}:servers.scheduler.sslmode is {server.sslmode}, but EasyAppointments 1.5.0 has no "
        f"setting for TLS: egm-scheduler connects to {server.host} unencrypted (scheduler_user does not require TLS)"
    ]
