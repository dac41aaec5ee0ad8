"""Where `pulumi up` keeps the stack's state, and what happens to it when an `up` dies or two run at once.

The real CLI, on the dev layout plus 20 services (`benchmarks.program.services_config`) against two fresh
PostgreSQL 15 servers (main and flowdb, the bootstrap superuser as admin); the scheduler's MySQL resources
are left out of every `up` (`--exclude ... --exclude-dependents`, as `make bench-deploy` does: the host's
MariaDB cannot take them, docs/real-engine.md "MySQL on MariaDB").

* A crash: the CLI process is SIGKILLed while the roles are being created. Its plugins run in process groups
  of their own, so they finish the creates they had started: the catalog then holds roles the state lists
  only as pending creates. With checkpoints (the default) that is all the state misses; the runbook below
  brings every one of them under the stack, and the test fails if any role stays unmanaged. With
  `PULUMI_SKIP_CHECKPOINTS=true` the state misses everything the killed `up` did.
* Two engineers: a second `up` while one runs is refused by the backend's lock, on the local file backend
  and on the S3 backend (versitygw, tests/e2e/object_store.py); the state stays whole.

The crash runbook, as run here: `pulumi cancel` (the killed CLI's lock stays otherwise); `pulumi stack
export` lists the pending creates; `pulumi refresh --clear-pending-creates`; `pulumi import --file` of every
role the program declares that the catalog has and the state lacks (the provider's `CREATE ROLE` fails on
an existing role, every other create of this stack is repeatable); `pulumi up`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from benchmarks.deploy import config_for
from resource_types import PG_ROLE, PG_SCHEMA
from review.audit.checks import audit_servers
from review.capture.program import Capture
from tests.e2e import cli
from tests.e2e.cli import LOCKED, CliResult, RunningCli
from tests.e2e.conftest import PLUGINS, STACK, engine_urns, mysql_urns_of, program_capture
from tests.e2e.engine import EngineStack, engine_stack
from tests.e2e.object_store import ObjectStore, object_store, versitygw_path
from tests.prerequisites import missing_prerequisite
from tests.realdb.conftest import (
    POSTGRES,
    STACK_DATABASES,
    Servers,
    require_packages,
    service_dsns,
    stack_servers_handed_over,
)
from tests.realdb.matrix import Combination
from tests.realdb.servers import POSTGRES_PACKAGE, postgres_server
from topology import Topology, load_topology

SERVICES = 20
KILL_AT_ROLES = 20
"""The CLI is killed once main holds this many roles: the layout at N=20 has 64 on main."""
SETTLE_SECONDS = 2.0
SKIP_CHECKPOINTS = {"PULUMI_SKIP_CHECKPOINTS": "true"}


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    require_packages(POSTGRES_PACKAGE)
    with ExitStack() as stack:
        main = stack.enter_context(postgres_server("backends-main"))
        flowdb = stack.enter_context(postgres_server("backends-flowdb"))
        yield Servers(main=main, flowdb=flowdb, scheduler=None, combination=Combination(15, "superuser"))


@pytest.fixture(scope="module")
def store() -> Iterator[ObjectStore]:
    binary = versitygw_path()
    if not binary.is_file():
        missing_prerequisite(f"the S3 store (versitygw at {binary})")
    with object_store(binary) as running:
        yield running


@dataclass(repr=False)
class Layout:
    """The stack's config for the servers, what the program registers for it, and the `up` arguments
    (no repr: the config holds the admin passwords)."""

    servers: Servers
    config: dict[str, Any]
    capture: Capture
    topology: Topology
    excluded: list[str]
    services: int

    @classmethod
    def of(cls, servers: Servers, services: int) -> Layout:
        stack_servers_handed_over(servers)
        config = config_for(servers, services)
        capture = program_capture(config)
        return cls(servers, config, capture, load_topology(config, STACK), mysql_urns_of(capture), services)

    def exclusions(self) -> list[str]:
        return [*(arg for urn in self.excluded for arg in ("--exclude", urn)), "--exclude-dependents"]

    def up(self) -> list[str]:
        return ["up", "--yes", "--skip-preview", "--suppress-outputs", *self.exclusions()]

    def preview_no_changes(self) -> list[str]:
        return ["preview", "--expect-no-changes", "--suppress-outputs", *self.exclusions()]

    def expected_urns(self) -> set[str]:
        """The engine URNs of every resource the program registers, but the MySQL ones `up` leaves out."""
        return set(engine_urns(self.capture).values()) - set(self.excluded)

    def declared_roles(self) -> dict[tuple[str, str], ImportEntry]:
        """(server, role) -> how `pulumi import` puts that Role where the program has it."""
        urns = engine_urns(self.capture)
        declared: dict[tuple[str, str], ImportEntry] = {}
        for resource in self.capture.resources:
            if resource.type == PG_ROLE and resource.parent and resource.provider:
                server = _server_of_provider(urns[resource.provider])
                role = str(resource.inputs["name"])
                declared[(server, role)] = ImportEntry(resource.name, role, urns[resource.parent],
                                                       urns[resource.provider])  # fmt: skip
        return declared


@dataclass(frozen=True)
class ImportEntry:
    name: str
    role: str
    parent: str
    provider: str


def _server_of_provider(provider: str) -> str:
    """`...$pulumi:providers:postgresql::main-provider[::<id>]` -> `main`."""
    name = provider.split("::")[3] if provider.count("::") >= 4 else provider.rsplit("::", 1)[1]
    return name.removesuffix("-provider")


# The stack's state and the servers' catalogs.


def export(engine: EngineStack) -> dict[str, Any]:
    return dict(engine.stack.export_stack().deployment or {})


def pending_creates(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return [op["resource"] for op in deployment.get("pending_operations") or [] if op["type"] == "creating"]


def named_key(resource: dict[str, Any]) -> tuple[str, str]:
    """(server, name) of a Role or Schema resource of the state."""
    return _server_of_provider(resource["provider"]), resource["inputs"]["name"]


def state_roles(deployment: dict[str, Any]) -> set[tuple[str, str]]:
    return {named_key(r) for r in deployment.get("resources") or [] if r["type"] == PG_ROLE}


def state_schemas(deployment: dict[str, Any]) -> set[tuple[str, str]]:
    return {named_key(r) for r in deployment.get("resources") or [] if r["type"] == PG_SCHEMA}


def catalog_roles(servers: Servers) -> set[tuple[str, str]]:
    roles: set[tuple[str, str]] = set()
    for name in POSTGRES:
        with psycopg.connect(servers[name].dsn("postgres")) as connection:
            rows = connection.execute(
                "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user"
            ).fetchall()
        roles |= {(name, role) for (role,) in rows}
    return roles


def catalog_schemas(servers: Servers) -> set[tuple[str, str]]:
    schemas: set[tuple[str, str]] = set()
    for name in POSTGRES:
        with psycopg.connect(servers[name].dsn(STACK_DATABASES[name])) as connection:
            rows = connection.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'"
            ).fetchall()
        schemas |= {(name, schema) for (schema,) in rows}
    return schemas


def unmanaged_roles(servers: Servers, deployment: dict[str, Any]) -> set[tuple[str, str]]:
    return catalog_roles(servers) - state_roles(deployment)


def main_role_count(servers: Servers) -> int:
    return sum(1 for server, _ in catalog_roles(servers) if server == "main")


# The crash.


@dataclass(frozen=True)
class Crash:
    roles_at_kill: int
    roles_after: int
    seconds: float


def lock_files(engine: EngineStack, store: ObjectStore | None = None) -> list[Path]:
    """The lock files of the stack's backend: the file backend's directory, or the bucket's on the store's disk."""
    root = store.object_path("") if store else Path(engine.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    locks = root / ".pulumi" / "locks"
    return sorted(locks.rglob("*.json")) if locks.exists() else []


def crash_up(engine: EngineStack, layout: Layout, log: Path) -> Crash:
    """`up` from nothing, its CLI SIGKILLed once main holds KILL_AT_ROLES roles; its plugins are left to
    finish what they had started (the catalog settles), then killed too."""
    started = time.monotonic()
    running = RunningCli(engine, layout.up(), log)
    while (roles := main_role_count(layout.servers)) < KILL_AT_ROLES:
        assert running.process.poll() is None, f"`up` ended before the kill:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)
    left = running.kill_cli_only()
    seconds = time.monotonic() - started
    settled, last = roles, -1
    while settled != last:
        time.sleep(SETTLE_SECONDS)
        last, settled = settled, main_role_count(layout.servers)
    cli.kill_all(left)
    return Crash(roles, settled, seconds)


def already_exists(result: CliResult) -> set[str]:
    """The roles an `up` failed to create because they exist: `pq: role "x" already exists (42710)`."""
    return set(re.findall(r'pq: role "([^"]+)" already exists', result.output))


def adopt(engine: EngineStack, layout: Layout, roles: set[tuple[str, str]], directory: Path) -> CliResult:
    """`pulumi import --file` of `roles` as the program declares them (same name, parent and provider, so
    the same URN); the next `up` sets what the import could not read (a login role's password)."""
    declared = layout.declared_roles()
    entries = [declared[key] for key in sorted(roles)]
    providers = sorted({entry.provider for entry in entries})
    names = {f"parent{i}": entry.parent for i, entry in enumerate(entries)}
    names |= {f"provider{i}": provider for i, provider in enumerate(providers)}
    resources = [
        {"type": PG_ROLE, "name": entry.name, "id": entry.role, "parent": f"parent{i}",
         "provider": f"provider{providers.index(entry.provider)}"}
        for i, entry in enumerate(entries)
    ]  # fmt: skip
    import_file = directory / "adopt.json"
    import_file.write_text(json.dumps({"nameTable": names, "resources": resources}))
    return cli.run(engine, "import", "--file", str(import_file), "--yes", "--skip-preview", "--protect=false",
                   "--generate-code=false", "--suppress-outputs")  # fmt: skip


def import_pending_creates(pending: list[dict[str, Any]], roles: set[tuple[str, str]]) -> list[str]:
    """`refresh`'s flags importing the pending creates of `roles`: each URN and each ID a flag of its own."""
    flags: list[str] = []
    for resource in pending:
        if resource["type"] == PG_ROLE and named_key(resource) in roles:
            flags += [
                "--import-pending-creates",
                resource["urn"],
                "--import-pending-creates",
                resource["inputs"]["name"],
            ]
    return flags


def assert_recovered(engine: EngineStack, layout: Layout) -> None:
    """`up` completes; nothing is lost (every resource of the program is in the state, every DSN logs in with
    the state's password) and nothing is unmanaged (every role and schema in the catalogs is one the state
    holds, and `review audit` finds no grant, membership or role beyond the layout)."""
    up = cli.run(engine, *layout.up())
    assert up.ok, up.output[-4000:]
    preview = cli.run(engine, *layout.preview_no_changes())
    assert preview.ok, preview.output[-4000:]
    deployment = export(engine)
    assert not deployment.get("pending_operations")
    state_urns = {r["urn"] for r in deployment["resources"]}
    assert layout.expected_urns() - state_urns == set()
    assert catalog_roles(layout.servers) == state_roles(deployment)
    builtin = {(name, "public") for name in POSTGRES}
    assert catalog_schemas(layout.servers) - builtin == state_schemas(deployment)
    dsns = {name: layout.servers[name].dsn() for name in POSTGRES}
    assert audit_servers(layout.topology, dsns) == []
    outputs = dataclasses.replace(layout.capture, outputs=engine.outputs())
    logins = service_dsns(outputs, layout.servers)
    assert len(logins) >= layout.services
    for dsn in logins.values():
        with psycopg.connect(dsn, connect_timeout=5) as connection:
            connection.execute("SELECT 1")


def urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[1]


def test_a_killed_up_leaves_only_its_pending_creates_unmanaged_and_the_runbook_adopts_them(
    servers: Servers, tmp_path: Path
) -> None:
    layout = Layout.of(servers, SERVICES)
    with engine_stack(STACK, None, *PLUGINS) as engine:
        engine.configure(layout.config)
        crash = crash_up(engine, layout, tmp_path / "killed-up.log")
        deployment = export(engine)
        pending = pending_creates(deployment)
        orphans = unmanaged_roles(servers, deployment)
        pending_roles = {named_key(r) for r in pending if r["type"] == PG_ROLE}
        print(f"\n[checkpoints] killed after {crash.seconds:.1f}s at {crash.roles_at_kill} roles on main, "
              f"{crash.roles_after} once its plugins finished; state: {len(deployment['resources'])} resources, "
              f"{len(pending)} pending creates {sorted(urn_name(r['urn']) for r in pending)}; "
              f"unmanaged roles: {sorted(orphans)}")  # fmt: skip
        # Checkpoints lose nothing but the creates in flight: every unmanaged role is a pending create.
        assert orphans <= pending_roles
        assert orphans, "the kill left no create committed and unrecorded: the case this runbook is for"

        locked = cli.run(engine, *layout.up())
        assert not locked.ok and LOCKED in locked.output, locked.output[-2000:]
        assert len(lock_files(engine)) == 1
        print(f"[checkpoints] next up: {locked.lines_with('locked')[0]}")
        cancel = cli.run(engine, "cancel", "--yes")
        assert cancel.ok, cancel.output
        assert lock_files(engine) == []

        plain = cli.run(engine, *layout.up())
        assert not plain.ok
        assert "Attempting to deploy or update resources with" in plain.output
        assert already_exists(plain) and already_exists(plain) <= {role for _, role in orphans}
        print(f"[checkpoints] plain up after cancel: {plain.lines_with('already exists')[0]}")

        # `refresh --import-pending-creates URN ID` (and the interactive refresh's "import") turns each into a
        # pending import, which the refresh then drops: the role is neither imported nor pending any more.
        imports = import_pending_creates(pending, orphans)
        refresh = cli.run(engine, "refresh", "--yes", "--skip-preview", "--suppress-outputs",
                          "--clear-pending-creates", *imports)  # fmt: skip
        assert refresh.ok, refresh.output[-3000:]
        refreshed = export(engine)
        assert pending_creates(refreshed) == []
        assert unmanaged_roles(servers, refreshed) == orphans, "refresh --import-pending-creates imported them now"

        adopted = adopt(engine, layout, orphans, tmp_path)
        assert adopted.ok, adopted.output[-3000:]
        assert unmanaged_roles(servers, export(engine)) == set()
        assert_recovered(engine, layout)


def test_with_skip_checkpoints_a_killed_up_leaves_everything_it_did_unmanaged(servers: Servers, tmp_path: Path) -> None:
    layout = Layout.of(servers, SERVICES)
    with engine_stack(STACK, None, *PLUGINS, env=SKIP_CHECKPOINTS) as engine:
        engine.configure(layout.config)
        crash = crash_up(engine, layout, tmp_path / "killed-up.log")
        deployment = export(engine)
        orphans = unmanaged_roles(servers, deployment)
        print(f"\n[skip checkpoints] killed after {crash.seconds:.1f}s at {crash.roles_at_kill} roles on main, "
              f"{crash.roles_after} once its plugins finished; state: {len(deployment.get('resources') or [])} "
              f"resources, {len(deployment.get('pending_operations') or [])} pending operations; "
              f"unmanaged roles: {len(orphans)}")  # fmt: skip
        # Nothing of the killed `up` reached the state: every role it created is unmanaged.
        assert not deployment.get("resources") and not deployment.get("pending_operations")
        assert orphans == catalog_roles(servers) and len(orphans) >= KILL_AT_ROLES

        locked = cli.run(engine, *layout.up())
        assert not locked.ok and LOCKED in locked.output
        assert cli.run(engine, "cancel", "--yes").ok
        plain = cli.run(engine, *layout.up())
        assert not plain.ok and already_exists(plain)
        print(f"[skip checkpoints] plain up after cancel: {plain.lines_with('already exists')[0]}")

        # The failed `up` recorded the components (and new passwords): the same adoption now applies.
        after = export(engine)
        state_urns = {r["urn"] for r in after["resources"]}
        orphans = unmanaged_roles(servers, after)
        declared = layout.declared_roles()
        assert {declared[key].parent for key in orphans} <= state_urns
        adopted = adopt(engine, layout, orphans, tmp_path)
        assert adopted.ok, adopted.output[-3000:]
        assert_recovered(engine, layout)


# Two engineers.


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_a_second_up_while_one_runs_is_refused_by_the_lock_and_the_state_stays_whole(
    backend: str, servers: Servers, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: ObjectStore | None = request.getfixturevalue("store") if backend == "s3" else None
    layout = Layout.of(servers, 0)
    with engine_stack(STACK, None, *PLUGINS, env=store.backend_env() if store else None) as engine:
        engine.configure(layout.config)
        first = RunningCli(engine, layout.up(), tmp_path / "first-up.log")
        deadline = time.monotonic() + 60
        while not lock_files(engine, store):
            assert first.process.poll() is None and time.monotonic() < deadline, first.log.read_text()[-3000:]
            time.sleep(0.05)
        second = cli.run(engine, *layout.up())
        done = first.result()
        assert done.ok, done.output[-4000:]
        assert not second.ok and LOCKED in second.output, second.output[-2000:]
        assert f"(pid {first.process.pid})" in second.output
        print(f"\n[{backend}] second up: {second.lines_with('locked')[0]} / {second.lines_with('pid')[0]}")
        assert lock_files(engine, store) == []
        assert_recovered(engine, layout)
