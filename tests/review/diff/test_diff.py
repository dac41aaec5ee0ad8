"""`python -m review diff`: engine order, replacements, protection, secrets and the git-ref path."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from resource_types import DATABASE_ROLE, PG_SCHEMA, POSTGRES_SERVER, RANDOM_PASSWORD
from review import __main__ as cli
from review.capture.plan import Plan
from review.capture.program import PROJECT_DIR, Capture, Resource, generated_passwords, unwrap_secrets
from review.diff.command import DiffUsageError, capture_urn, report_of
from review.diff.compute import CREATE, CREATE_REPLACEMENT, DELETE, DELETE_REPLACED, IMPORT, UPDATE
from review.diff.outputs import output_changes
from review.diff.views import DiffReport, changed_outputs, render_json, render_markdown, render_sql, render_text
from tests.conftest import cached_run_program, with_replicas
from tests.graph import ROLE
from tests.review.conftest import Result

BILLING = {"image": "ghcr.io/engardehq/billing:1.0.0", "reads": ["madansara"]}
PASSWORD_URN = (  # as `pulumi stack --show-urns` prints it (docs/operations.md, "Rotating a password")
    f"urn:pulumi:dev::engarde::{POSTGRES_SERVER}${DATABASE_ROLE}${RANDOM_PASSWORD}::main-madansara_user-password"
)


PROD_PASSWORD_TYPE = f"{POSTGRES_SERVER}${DATABASE_ROLE}${RANDOM_PASSWORD}"


def _capture(config: dict[str, Any], replaced: tuple[str, ...] = ()) -> Capture:
    return cached_run_program(config, "dev", replaced=replaced)


@pytest.fixture(scope="module")
def base() -> Capture:
    return _capture({})


@pytest.fixture(scope="module")
def with_billing() -> Capture:
    return _capture({"services": {"billing": BILLING}})


@pytest.fixture(scope="module")
def rotation(base: Capture) -> DiffReport:
    replaced = (capture_urn(PASSWORD_URN),)
    return report_of(base, _capture({}, replaced), "dev", replaced, False, "test")


def _index(report: DiffReport, op: str, name: str, type_suffix: str = "") -> int:
    """Position of the step (of a custom resource, or of the type ending `type_suffix`)."""
    return next(
        i
        for i, step in enumerate(report.diff.steps)
        if (step.op, step.name) == (op, name) and (step.type.endswith(type_suffix) if type_suffix else step.custom)
    )


def test_an_unchanged_program_diffs_to_nothing(base: Capture) -> None:
    report = report_of(base, _capture({}), "dev", (), True, "test")
    assert report.diff.steps == [] and report.diff.errors == []
    assert render_text(report) == "Stack dev: no changes against test.\n"
    assert "No changes" in render_markdown(report)
    assert json.loads(render_json(report))["steps"] == []
    assert "BEGIN" not in render_sql(report) and "ALTER" not in render_sql(report)


def test_a_rotated_password_updates_its_role_and_the_services_output(base: Capture, rotation: DiffReport) -> None:
    steps = [(step.op, step.name) for step in rotation.diff.steps]
    replacement = _index(rotation, CREATE_REPLACEMENT, "main-madansara_user-password")
    role_update = _index(rotation, UPDATE, "main-madansara_user")
    old_deleted = _index(rotation, DELETE_REPLACED, "main-madansara_user-password")
    assert replacement < role_update < old_deleted == len(steps) - 1
    assert rotation.diff.steps[role_update].changed == ("password",)
    old_env = unwrap_secrets(base.outputs["services"])["madan-sara"]["env"]
    new_env = unwrap_secrets(rotation.diff.new.outputs["services"])["madan-sara"]["env"]
    assert old_env["DATABASE_URL"] != new_env["DATABASE_URL"]
    # Only that one password changed: every other generated value is kept.
    assert len(set(generated_passwords(base)) - set(generated_passwords(rotation.diff.new.capture))) == 1
    sql = render_sql(rotation, "main")
    assert "ALTER ROLE \"madansara_user\" PASSWORD :'main_madansara_user_password';" in sql
    assert "--   main_madansara_user_password: the password in the URL at services.madan-sara.env.DATABASE_URL" in sql
    assert [op for op, name in steps if name == "main-madansara_user"] == [UPDATE]


def test_a_rotation_names_the_service_env_variable_that_changes(rotation: DiffReport) -> None:
    changed = changed_outputs(rotation)
    assert "services.madan-sara.env.DATABASE_URL" in changed
    assert all(path.startswith("services.") or path.startswith("logins.") for path in changed), changed
    assert "services.backend.env.DATABASE_URL" not in changed
    assert "\n  env of madan-sara: DATABASE_URL changes\n" in render_text(rotation)
    assert "\n- env of madan-sara: DATABASE_URL changes\n" in render_markdown(rotation)
    document = json.loads(render_json(rotation))
    assert {"output": "services.madan-sara.env", "added": [], "removed": [], "changed": ["DATABASE_URL"],
            "entriesAdded": 0, "entriesRemoved": 0} in document["outputChanges"]  # fmt: skip
    assert "changedOutputs" not in document
    assert json.loads(render_json(rotation, verbose=True))["changedOutputs"] == changed


def test_adding_a_service_summarises_the_outputs_by_name_and_lists_paths_only_when_verbose(
    base: Capture, with_billing: Capture
) -> None:
    report = report_of(base, with_billing, "dev", (), False, "test")
    text = render_text(report)
    section = text.split("Stack outputs that change", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    # One line per output, never a path: the old section was one line of ~190 index paths.
    assert section == [
        "  services: + billing",
        "  accessMatrix: 6 entries added",
        "  alertRules: changes",
        "  connectionBudget: main changes",
        "  dsnRoutes: 1 entry added",
        "  logins: 1 entry added",
    ]
    assert "accessMatrix.12" not in text and "--verbose lists every path" in text
    paths = changed_outputs(report)
    assert len(paths) > 100 and "services.billing.env.DATABASE_URL" in paths
    verbose = render_text(report, verbose=True)
    assert "\nOutput paths that change:\n" + "".join(f"  {path}\n" for path in paths) in verbose
    markdown = render_markdown(report)
    assert "- services: + billing\n" in markdown and "accessMatrix.12" not in markdown
    assert "\n```text\n" + "".join(f"{path}\n" for path in paths) + "```\n" in render_markdown(report, verbose=True)
    for output in (text, markdown, render_json(report)):
        assert max(len(line) for line in output.splitlines() if not line.startswith(("  ", "CREATE", "GRANT"))) < 200


def test_output_changes_name_keys_and_count_entries_and_never_show_values() -> None:
    old = {"services": {"a": {"env": {"URL": "secret-1", "GONE": "x"}}, "b": {"env": {}}},
           "rows": [{"r": 1}, {"r": 2}], "text": "v1"}  # fmt: skip
    new = {"services": {"a": {"env": {"URL": "secret-2", "NEW": "y"}}, "c": {"env": {}}},
           "rows": [{"r": 2}, {"r": 3}, {"r": 4}], "text": "v2", "added": {"k": 1}}  # fmt: skip
    lines = [change.describe() for change in output_changes(old, new)]
    assert lines == [
        "services: + c; - b",
        "env of a: + NEW; - GONE; URL changes",
        "added: + k",
        "rows: 2 entries added; 1 entry removed",
        "text: changes",
    ]
    assert not [line for line in lines if "secret" in line or "v1" in line or "v2" in line]


def test_no_password_is_printed_in_any_format(base: Capture, rotation: DiffReport) -> None:
    passwords = set(generated_passwords(base)) | set(generated_passwords(rotation.diff.new.capture))
    for render in (render_text, render_markdown, render_json, render_sql):
        output = render(rotation)
        assert [p for p in passwords if p in output or quote(p, safe="") in output] == []


def test_adding_a_service_creates_in_dependency_order(base: Capture, with_billing: Capture) -> None:
    report = report_of(base, with_billing, "dev", (), False, "test")
    ops = {step.op for step in report.diff.steps}
    assert CREATE in ops and DELETE not in ops and report.diff.errors == []
    assert _index(report, CREATE, "main-billing_user") < _index(report, CREATE, "main-billing")
    schema = _index(report, CREATE, "main-billing")
    assert schema < _index(report, CREATE, "main-billing_read-tables")
    document = json.loads(render_json(report, "main"))
    role = next(s for s in document["steps"] if s["name"] == "main-billing_user" and s["type"] == ROLE)
    assert role["sql"]["server"] == "main"
    assert any('CREATE ROLE "billing_user"' in statement for s in role["sql"]["steps"] for statement in s["statements"])


def test_removing_a_service_deletes_last_in_reverse_dependency_order(base: Capture, with_billing: Capture) -> None:
    report = report_of(with_billing, base, "dev", (), False, "test")
    # Besides the deletes, only readers' roles change (memberships kept in a role's own `roles`), and
    # main's exporter, whose queries file names the login roles it reports on.
    assert {step.op for step in report.diff.steps} <= {DELETE, UPDATE}
    updates = {(s.type, s.name, s.changed) for s in report.diff.steps if s.op == UPDATE}
    assert {(kind, changed) for kind, name, changed in updates if kind == ROLE} == {(ROLE, ("roles",))}
    assert {(name, changed) for kind, name, changed in updates if kind != ROLE} <= {("postgres-exporter", ("uploads",))}
    grant = _index(report, DELETE, "main-billing_read-tables")
    assert grant < _index(report, DELETE, "main-billing") < _index(report, DELETE, "main-billing_user")
    sql = render_text(report)
    # dev's main is an unprotected container, disposable: the schema goes with its tables, the role with what
    # it owns (an external or protected server's would fail instead: test_program's prod schemas and roles).
    assert 'DROP SCHEMA "billing" CASCADE;' in sql
    assert 'REASSIGN OWNED BY "billing_user"' in sql and 'DROP ROLE "billing_user";' in sql


def test_deleting_or_replacing_a_protected_resource_is_an_error() -> None:
    protected = _capture({"protect": True, "services": {"billing": BILLING}})
    removed = _capture({"protect": True})
    report = report_of(protected, removed, "dev", (), False, "test")
    kept = {resource.urn for resource in removed.resources}
    expected = {r.urn for r in protected.resources if r.protect and r.urn not in kept}
    assert {"main-billing", "main-billing_user"} <= {urn.rpartition("::")[2] for urn in expected}
    assert sorted(report.diff.errors) == sorted(
        f'unable to delete resource "{urn}" as it is currently marked for protection '
        "(pulumi state unprotect, or drop `protect` in the program first)"
        for urn in expected
    )
    schema = next(r.urn for r in removed.resources if r.name == "main-madansara" and r.type == PG_SCHEMA)
    replaced = report_of(removed, removed, "dev", (schema,), False, "test")
    assert [error.partition(" as ")[0] for error in replaced.diff.errors] == [f'unable to replace resource "{schema}"']


def test_replacing_a_resource_the_stack_does_not_have_is_a_usage_error(base: Capture) -> None:
    with pytest.raises(DiffUsageError, match="no such resource"):
        report_of(base, base, "dev", (f"urn:pulumi:dev::engarde::{RANDOM_PASSWORD}::not-registered",), False, "test")


# The command, on a repository of its own ---------------------------------------------------------


def _repository(tmp_path: Path) -> Path:
    """A git repository holding this tree's tracked files, committed."""
    tracked = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "ls-files", "-z"], capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        source = PROJECT_DIR / name
        if source.is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tmp_path / name)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    return tmp_path


def _diff(repository: Path, *argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["diff", "--stack", "dev", *argv], out=out, err=err, project_dir=repository)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repository(tmp_path_factory.mktemp("repository"))


def test_a_clean_tree_against_head_prints_no_change_and_no_sql(repository: Path) -> None:
    result = _diff(repository, "--base-ref", "HEAD")
    assert (result.code, result.out) == (0, "Stack dev: no changes against git ref HEAD.\n"), result.err


def test_a_committed_protected_service_removed_in_the_working_tree_fails(tmp_path: Path) -> None:
    repository = _repository(tmp_path)
    stack_file = repository / "Pulumi.dev.yaml"
    original = stack_file.read_text()
    document = yaml.safe_load(original)
    document["config"]["engarde:protect"] = True
    document["config"]["engarde:services"] = {"billing": BILLING}
    stack_file.write_text(yaml.safe_dump(document))
    git = ["git", "-C", str(repository), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "commit", "-qam", "billing"], check=True)
    stack_file.write_text(original.replace("engarde:protect: false", "engarde:protect: true"))
    result = _diff(repository, "--base-ref", "HEAD", "--format", "markdown", "--verbose")
    assert result.code == 1
    assert "| delete | `postgresql:Schema main-billing` |" in result.out
    assert "- services: - billing\n" in result.out
    assert "<summary>Output paths that change (" in result.out and "services.billing.env.DATABASE_URL\n" in result.out
    assert "unable to delete resource" in result.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--base-ref", "no-such-ref"), "--base-ref no-such-ref: not a commit"),
        (("--base-ref", "HEAD", "--set", "langflowPlacement=sideways"), "engarde:langflowPlacement"),
        (("--base-ref", "HEAD", "--replace", "not-a-urn"), "--replace not-a-urn: not a URN"),
        (
            ("--base-ref", "HEAD", "--replace", f"urn:pulumi:prod::engarde::{PROD_PASSWORD_TYPE}::main-x-password"),
            f"--replace urn:pulumi:prod::engarde::{PROD_PASSWORD_TYPE}::main-x-password: a URN of stack 'prod',"
            " not of --stack dev",
        ),
        (("--base-ref", "HEAD", "--server", "nowhere"), "--server nowhere"),
    ],
)
def test_usage_and_config_errors_exit_2_with_one_line(repository: Path, argv: tuple[str, ...], message: str) -> None:
    result = _diff(repository, *argv)
    assert result.code == 2
    assert message in result.err and len(result.err.strip().splitlines()) == 1


def _set_option(resource: Any, option: str, value: object) -> None:
    """A resource option as the capture records it once the program sets it (`import_`, `ignore_changes`)."""
    setattr(resource, option, value)


def test_an_imported_resource_runs_no_sql_and_ignored_changes_are_no_change(
    base: Capture, with_billing: Capture
) -> None:
    adopted = copy.deepcopy(with_billing)
    schema = next(r for r in adopted.by_type(PG_SCHEMA) if r.name == "main-billing")
    _set_option(schema, "import_id", "billing")
    report = report_of(base, adopted, "dev", (), False, "test")
    step = report.diff.steps[_index(report, IMPORT, "main-billing")]
    assert report.sql[report.diff.steps.index(step)] is None
    assert "to import" in report.summary()
    ignoring = copy.deepcopy(base)
    role = next(r for r in ignoring.by_type(ROLE) if r.name == "main-madansara_user")
    role.inputs["connectionLimit"] = 5
    assert [s.name for s in report_of(base, ignoring, "dev", (), False, "t").diff.steps] == ["main-madansara_user"]
    _set_option(role, "ignore_changes", ["connectionLimit"])
    assert report_of(base, ignoring, "dev", (), False, "test").diff.steps == []


def _before_the_move(capture: Capture) -> Capture:
    """The same run as a stack deployed before its components moved: each aliased resource at the URN
    its alias names (under its old parent), every reference to it rewritten, no aliases."""
    plan = Plan(capture)
    old_urn = {r.urn: plan.alias_urns(r)[0] for r in capture.resources if r.aliases}

    def old(urn: str | None) -> str | None:
        return old_urn.get(urn, urn) if urn is not None else None

    def old_parent(resource: Resource) -> str | None:
        if not resource.aliases:
            return old(resource.parent)
        alias = resource.aliases[0]
        return plan.stack_urn if alias.get("noParent") else str(alias.get("parentUrn") or old(resource.parent))

    resources = [
        dataclasses.replace(
            r,
            urn=old_urn.get(r.urn, r.urn),
            parent=old_parent(r),
            depends_on=[old_urn.get(u, u) for u in r.depends_on],
            property_dependencies={k: [old_urn.get(u, u) for u in v] for k, v in r.property_dependencies.items()},
            aliases=[],
        )
        for r in capture.resources
    ]
    return dataclasses.replace(capture, resources=resources)


def test_components_moved_under_their_server_with_aliases_keep_their_identity(base: Capture) -> None:
    """`review diff` against a commit before the tree nested shows no step: the engine follows aliases."""
    before = _before_the_move(base)
    moved = [r for r in base.resources if r.aliases]
    assert len(moved) > 30 and all(r.urn not in before.by_urn() for r in moved)
    report = report_of(before, base, "dev", (), True, "test")
    assert report.diff.steps == [] and report.diff.errors == []
    without_aliases = dataclasses.replace(base, resources=[dataclasses.replace(r, aliases=[]) for r in base.resources])
    naive = report_of(before, without_aliases, "dev", (), True, "test")
    assert {step.op for step in naive.diff.steps} == {CREATE, DELETE}


@pytest.fixture(scope="module")
def with_replica() -> Capture:
    return _capture({"servers": with_replicas("dev", {"main": [{}]})})


def test_adding_a_replica_creates_its_role_slot_and_container_and_restarts_the_primary_once(
    base: Capture, with_replica: Capture
) -> None:
    report = report_of(base, with_replica, "dev", (), False, "test")
    assert report.diff.errors == []
    # The primary's container is replaced (its command gains the WAL settings and pg_hba.conf); its
    # data volume is not touched; everything else is new or an exporter's queries file.
    assert {(s.op, s.name) for s in report.diff.steps if s.op not in {CREATE}} == {
        (DELETE_REPLACED, "main-container"),
        (CREATE_REPLACEMENT, "main-container"),
        (UPDATE, "postgres-exporter"),
    }
    role = _index(report, CREATE, "main-engarde_replicator")
    primary = _index(report, CREATE_REPLACEMENT, "main-container")
    slot = _index(report, CREATE, "main-replica-1-slot")
    assert max(role, primary) < slot < _index(report, CREATE, "main-replica-1-container")
    sql = render_sql(report, "main")
    assert "LOGIN NOBYPASSRLS REPLICATION;" in sql
    assert "SELECT FROM pg_create_physical_replication_slot('engarde_main_replica_1');" in sql
    changed = changed_outputs(report)
    assert {"services.reporting.env.DATABASE_URL", "services.compliance.env.DATABASE_URL"} <= set(changed)
    assert not [path for path in changed if path.startswith("services.") and "DATABASE_URL" in path
                and not path.startswith(("services.reporting.", "services.compliance."))]  # fmt: skip


def test_removing_a_replica_drops_its_slot_after_its_container_and_then_its_role(
    base: Capture, with_replica: Capture
) -> None:
    report = report_of(with_replica, base, "dev", (), False, "test")
    assert report.diff.errors == []
    container = _index(report, DELETE, "main-replica-1-container")
    slot = _index(report, DELETE, "main-replica-1-slot")
    assert container < slot < _index(report, DELETE, "main-engarde_replicator")
    assert _index(report, DELETE, "main-replica-1-data", "Volume") > container
    sql = render_sql(report, "main")
    assert "SELECT pg_drop_replication_slot('engarde_main_replica_1');" in sql
    assert 'DROP ROLE "engarde_replicator";' in sql
