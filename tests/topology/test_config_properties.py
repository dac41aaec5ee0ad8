"""Hostile and broken config: every input either builds a safe topology or fails with a ConfigError
that names a key — never another exception."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topology import ConfigError, Topology, load_topology
from topology.config import KNOWN_KEYS

SAFE_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

hostile_names = st.one_of(
    st.sampled_from([
        "public", "audit", "langflow", "information_schema", "postgres", "pg_catalog", "pg_temp", "madansara",
        'bad"quote', "semi;colon", "drop table x; --", "with space", "UPPER", "Mixed", "ünïcode", "日本",
        "a" * 57, "a" * 63, "a" * 64, "", " ", "-dash", "1digit", "ok_name", "billing", "x$y", "x\x00y",
    ]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=70),
    st.from_regex(r"[a-z_][a-z0-9_]{0,70}", fullmatch=True),
)  # fmt: skip
wrong_types = st.one_of(st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False), st.lists(st.integers()))
ports = st.one_of(st.integers(min_value=-5, max_value=70000), wrong_types, st.text(max_size=5))
images = st.one_of(
    st.sampled_from(
        ["x/svc:1.0", "x/svc", "x/svc:latest", "x/svc@sha256:" + "a" * 64, "", "has space:1", "reg:5000/x"]
    ),
    wrong_types,
)
service_bodies = st.dictionaries(
    st.sampled_from(["image", "schema", "port", "reads", "colour"]),
    st.one_of(images, hostile_names, ports, st.lists(hostile_names, max_size=3), wrong_types),
    max_size=5,
)
server_bodies = st.dictionaries(
    st.sampled_from(
        ["mode", "image", "hostPort", "host", "port", "database", "adminUser", "sslmode", "superuser", "x"]
    ),
    st.one_of(
        st.sampled_from(["container", "external", "vm", "require", "disable"]), hostile_names, ports, wrong_types
    ),
    max_size=6,
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "langflowPlacement": st.one_of(st.sampled_from(["dedicated", "shared", "both"]), wrong_types),
        "runContainers": st.one_of(st.booleans(), st.sampled_from(["true", "false", "yes"]), wrong_types),
        "protect": st.one_of(st.booleans(), wrong_types),
        "servers": st.one_of(
            st.dictionaries(st.sampled_from(["main", "flowdb", "scheduler", "replica"]), server_bodies, max_size=3),
            wrong_types,
        ),
        "images": st.one_of(
            st.dictionaries(st.sampled_from(["backend", "onside", "redis", "web"]), images), wrong_types
        ),
        "services": st.one_of(st.dictionaries(hostile_names, service_bodies, max_size=3), wrong_types),
        "mainAdminPassword": st.one_of(st.text(max_size=10), wrong_types),
        "flowdbAdminPassword": st.text(max_size=10),
        "unknownKey": st.text(max_size=3),
    },
)

CASES: list[str] = []


def _config_paths(config: dict[str, Any]) -> set[str]:
    """Every key path in `config`, plus the keys a config may lack: admin passwords, defaulted or
    required server settings, a service's required image."""
    paths = set(KNOWN_KEYS)
    paths |= {f"servers.{server}.{key}" for server in ("main", "flowdb", "scheduler") for key in ("mode", "host")}
    services = config.get("services")
    if isinstance(services, dict):
        paths |= {f"services.{name}.image" for name in services}

    def walk(prefix: str, value: Any) -> None:
        paths.add(prefix)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)

    for key, value in config.items():
        walk(key, value)
    return paths


def _assert_safe(topology: Topology) -> None:
    seen: set[tuple[str, str]] = set()
    for role in topology.roles:
        assert SAFE_IDENTIFIER.fullmatch(role.name) and not role.name.startswith("pg_"), role.name
        assert (role.server, role.name) not in seen
        seen.add((role.server, role.name))
    for schema in topology.schemas:
        assert SAFE_IDENTIFIER.fullmatch(schema.name), schema.name
    for service in topology.services:
        assert re.fullmatch(r"[a-z][a-z0-9-]{0,39}", service.name), service.name


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_any_config_builds_a_safe_topology_or_names_the_bad_key(config: dict[str, Any]) -> None:
    try:
        topology = load_topology(config, "dev")
    except ConfigError as error:
        CASES.append("refused")
        message = str(error)
        assert "\n" not in message
        assert message.startswith(f"engarde:{error.key}: ")
        base = re.sub(r"\[\d+\]$", "", error.key)
        assert error.key in _config_paths(config) or base in _config_paths(config), error.key
        return
    CASES.append("built")
    _assert_safe(topology)


@settings(max_examples=400, deadline=None)
@given(schema=hostile_names, reads=st.lists(hostile_names, max_size=2), port=ports)
def test_a_hostile_service_field_is_refused_by_its_own_key(schema: str, reads: list[str], port: Any) -> None:
    config = {"services": {"svc": {"image": "x/svc:1.0", "schema": schema, "reads": reads, "port": port}}}
    try:
        topology = load_topology(config, "dev")
    except ConfigError as error:
        CASES.append("refused")
        assert error.key in {"services.svc.schema", "services.svc.port", "services.svc.reads"} or re.fullmatch(
            r"services\.svc\.reads\[\d\]", error.key
        ), error.key
        return
    CASES.append("built")
    _assert_safe(topology)
    assert any(s.name == schema for s in topology.schemas)
