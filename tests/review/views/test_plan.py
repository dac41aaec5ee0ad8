"""`python -m review plan`: every view of dev, prod and shared placement, config handling, exit codes."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from resource_types import PG_ROLE as ROLE_TYPE
from review import __main__ as cli
from review.capture.plan import Plan
from review.capture.program import PROJECT_DIR, Capture, Secret, generated_passwords, run_program, unwrap_secrets
from review.views.plan import render_markdown, render_mermaid
from review.views.sql import render_sql
from tests.graph import server_of
from tests.review.conftest import CONFIGS, FORMATS, argv, capture_for, capture_of, plan
from topology.scram import is_verifier_of

NO_ACCESS = "\u2013"


def expected_matrices(capture: Capture) -> dict[tuple[str, str], dict[tuple[str, str], str]]:
    """The `accessMatrix` output grouped per (server, database): (role, schema) -> profile."""
    grouped: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
    for row in unwrap_secrets(capture.outputs["accessMatrix"]):
        grouped.setdefault((row["server"], row["database"]), {})[(row["role"], row["schema"])] = row["profile"]
    return grouped


def _table_cells(header: list[str], rows: list[list[str]]) -> dict[tuple[str, str], str]:
    schemas = header[1:]
    return {
        (row[0], schema): cell
        for row in rows
        for schema, cell in zip(schemas, row[1:], strict=True)
        if cell != NO_ACCESS
    }


def text_matrices(out: str) -> dict[tuple[str, str], dict[tuple[str, str], str]]:
    """Tables of the text view's access matrix section, read back."""
    section = out.split("\nAccess matrix", 1)[1].split("\nServices", 1)[0]
    found = {}
    for block in section.split("\n\n")[1:]:
        lines = block.strip("\n").splitlines()
        server, _, database = lines[0].strip().partition(" / ")
        table = [line.split() for line in lines[1:] if not line.strip().startswith("also:")]
        if table and table[0][0] == "role":
            found[(server, database)] = _table_cells(table[0], table[1:])
    return found


def markdown_matrices(out: str) -> dict[tuple[str, str], dict[tuple[str, str], str]]:
    """Tables of the markdown view's access matrix section, read back."""
    section = out.split("### Access matrix", 1)[1].split("### Services", 1)[0]
    found = {}
    for server, database, table in re.findall(r"\*\*(\S+)\*\* / `(\S+)`\n\n((?:\|.*\n)+)", section):
        rows = [[cell.strip().strip("`") for cell in line.strip().strip("|").split("|")] for line in table.splitlines()]
        found[(server, database)] = _table_cells(rows[0], rows[2:])
    return found


# Every view, every configuration ---------------------------------------------------------------


def servers_shown(format_: str, out: str) -> set[str]:
    """The server names a view shows."""
    if format_ == "text":
        block = out.split("\nServers\n", 1)[1].split("\n\n", 1)[0]
        return {line.split()[0] for line in block.splitlines()}
    if format_ == "markdown":
        return set(re.findall(r"^\| (\w+) \| (?:postgresql|mysql) \|", out, re.MULTILINE))
    if format_ == "json":
        return set(json.loads(out)["servers"])
    if format_ == "mermaid":
        return set(re.findall(r'^  subgraph \w+\["(\w+) · ', out, re.MULTILINE))
    return set(re.findall(r"^-- Server (\w+)$", out, re.MULTILINE))


@pytest.mark.parametrize("format_", FORMATS)
@pytest.mark.parametrize("config", CONFIGS)
def test_each_view_renders_the_servers_of_the_stack(config: str, format_: str) -> None:
    result = plan(*argv(config, "--format", format_))
    assert result.code == 0, result.err
    expected = set(capture_for(config).outputs["servers"])
    assert servers_shown(format_, result.out) == expected
    # Shared placement puts Langflow on main: no flowdb server at all.
    assert ("flowdb" in expected) == (config != "shared")


def test_prod_renders_offline_and_names_each_admin_password_pulumi_up_needs() -> None:
    result = plan("--stack", "prod")
    assert result.code == 0
    *notes, scheduler = result.err.splitlines()
    keys = ["mainAdminPassword", "flowdbAdminPassword", "schedulerAdminPassword"]
    assert len(notes) == len(keys)
    for note, key in zip(notes, keys, strict=True):
        assert f"engarde:{key}" in note and "pulumi config set --secret" in note
    # prod reaches its scheduler with TLS, which EasyAppointments cannot use: the same warning as `pulumi preview`.
    assert scheduler.startswith("warning: engarde:servers.scheduler.sslmode is require, but EasyAppointments")


def test_an_admin_password_given_with_set_is_used_and_kept_secret() -> None:
    given = "given p@ss/word"
    result = plan("--stack", "prod", "--set", f"mainAdminPassword={given}", "--format", "json", "--show-secrets")
    assert result.code == 0
    assert "engarde:mainAdminPassword" not in result.err
    provider = next(r for r in json.loads(result.out)["resources"] if r["name"] == "main-provider")
    assert provider["inputs"]["password"] == given
    masked = plan("--stack", "prod", "--set", f"mainAdminPassword={given}", "--format", "json")
    assert given not in masked.out and quote(given, safe="") not in masked.out


@pytest.mark.parametrize("config", CONFIGS)
def test_text_access_matrix_is_the_stack_output(config: str) -> None:
    result = plan(*argv(config))
    assert text_matrices(result.out) == expected_matrices(capture_for(config))


@pytest.mark.parametrize("config", CONFIGS)
def test_markdown_has_the_matrix_and_the_diagram(config: str) -> None:
    result = plan(*argv(config, "--format", "markdown"))
    assert markdown_matrices(result.out) == expected_matrices(capture_for(config))
    diagram = plan(*argv(config, "--format", "mermaid")).out
    assert f"```mermaid\n{diagram}```" in result.out


@pytest.mark.parametrize("config", CONFIGS)
def test_json_matrix_equals_the_access_matrix_output(config: str) -> None:
    document = json.loads(plan(*argv(config, "--format", "json")).out)
    assert document["stack"] == CONFIGS[config][0]
    assert document["accessMatrix"] == unwrap_secrets(capture_for(config).outputs["accessMatrix"])


@pytest.mark.parametrize("config", CONFIGS)
def test_json_roles_are_the_role_resources_on_their_servers(config: str) -> None:
    capture = capture_for(config)
    document = json.loads(plan(*argv(config, "--format", "json")).out)
    by_key = {(role["server"], role["name"]): role for role in document["roles"]}
    resources = capture.by_type(ROLE_TYPE)
    assert len(by_key) == len(document["roles"]) == len(resources)
    for resource in resources:
        inputs = unwrap_secrets(resource.inputs)
        role = by_key[(server_of(capture, resource), inputs["name"])]
        assert role["login"] == inputs["login"]
        assert role["searchPath"] == inputs.get("searchPaths", [])
        assert not any(role[flag] for flag in ("superuser", "createdb", "createrole", "replication", "bypassRls"))


def test_json_resources_carry_the_engine_view_with_secrets_masked() -> None:
    capture = capture_for("dev")
    document = json.loads(plan(*argv("dev", "--format", "json")).out)
    urns = [r["urn"] for r in document["resources"]]
    assert sorted(urns) == sorted(r.urn for r in capture.resources)
    position = {urn: i for i, urn in enumerate(urns)}
    assert all(position[r["parent"]] < position[r["urn"]] for r in document["resources"] if r["parent"] in position)
    role = next(r for r in document["resources"] if r["name"] == "main-madansara_user" and r["type"] == ROLE_TYPE)
    assert role["inputs"]["password"] == "[secret]"
    assert role["inputs"]["searchPaths"] == ["madansara", "public"]
    assert role["provider"].endswith("::main-provider")


@pytest.mark.parametrize("config", CONFIGS)
def test_service_env_masks_passwords_but_shows_where_services_connect(config: str) -> None:
    capture = capture_for(config)
    services = json.loads(plan(*argv(config, "--format", "json")).out)["services"]
    env = unwrap_secrets(capture.outputs["services"])
    assert services.keys() == env.keys()
    url = services["madan-sara"]["env"]["DATABASE_URL"]
    main = capture.outputs["servers"]["main"]
    assert url.startswith(f"postgresql://madansara_user:[secret]@{main['serviceHost']}:{main['servicePort']}/")
    assert "search_path%3Dmadansara%2Cpublic" in url
    assert services["langflow-server"]["env"]["LANGFLOW_SECRET_KEY"] == "[secret]"
    assert services["langflow-server"]["env"]["LANGFLOW_AUTO_LOGIN"] == "False"


EDGE = re.compile(r"^  (\w+) (?:-\.->|==>|-->)\|\"?([^|\"]+)\"?\| (\w+)$", re.MULTILINE)


def drawn_access(diagram: str) -> set[tuple[str, str, str]]:
    """(role node, profile, schema node) read back from the diagram: a role's edge to a schema; a
    shared node's edge to a schema, once per role it names; a role's edge to its database, once per schema."""
    shared_roles = {
        node: label.split("<br/>", 1)[1].replace("<br/>", ", ").split(", ")
        for node, label in re.findall(r'^    (access_\w+)\["([^"]+)"\]$', diagram, re.MULTILINE)
    }
    database_schemas: dict[str, list[str]] = {}
    for database, body in re.findall(r"^    subgraph (db_\w+)\[.*\n((?:      .*\n)*)    end$", diagram, re.MULTILINE):
        database_schemas[database] = re.findall(r"^      (schema_\w+)\(", body, re.MULTILINE)
    found = set()
    for source, label, target in EDGE.findall(diagram):
        profile = label.removesuffix(", every schema")
        server = target.split("_")[1]
        roles = [f"role_{server}_{role}" for role in shared_roles[source]] if source in shared_roles else [source]
        schemas = database_schemas[target] if label.endswith(", every schema") else [target]
        found |= {(role, profile, schema) for role in roles for schema in schemas}
    return found


@pytest.mark.parametrize("config", CONFIGS)
def test_mermaid_draws_each_access_once_and_each_login_as_its_role(config: str) -> None:
    capture = capture_for(config)
    diagram = plan(*argv(config, "--format", "mermaid")).out
    assert diagram.startswith("flowchart LR\n")
    matrix = unwrap_secrets(capture.outputs["accessMatrix"])
    expected = {
        (f"role_{r['server']}_{r['role']}", r["profile"], f"schema_{r['server']}_{r['schema']}") for r in matrix
    }
    assert {edge for edge in drawn_access(diagram) if edge[2].startswith("schema_")} == expected
    assert re.search(r"^  role_main_\w+ -\.->\|read\| schema_main_madansara$", diagram, re.MULTILINE)
    assert "  role_main_madansara_user ==>|owner| schema_main_madansara\n" in diagram
    # A service is a label of the role it logs in as: no node of its own, no edge across servers.
    assert '    role_main_madansara_user{{"madansara_user<br/>madan-sara"}}\n' in diagram
    assert '    role_scheduler_scheduler_backup{{"scheduler_backup<br/>backup-scheduler"}}\n' in diagram
    assert "svc_" not in diagram
    assert all(source.split("_")[1] == target.split("_")[1] for source, _label, target in EDGE.findall(diagram))
    langflow = "main" if config == "shared" else "flowdb"
    assert f'    role_{langflow}_langflow_app{{{{"langflow_app<br/>langflow-server"}}}}\n' in diagram


def test_mermaid_stays_readable_at_twenty_services() -> None:
    # The dev stack's 16 services and 5 more, each owning its schema and reading two others: the old
    # diagram drew a node per service and an edge per login and per access (108 edges, most across servers).
    extra = {"image": "example/svc:1.0.0", "reads": ["madansara", "sankore"]}
    capture = capture_of("dev", *(f"services.svc-{i}={json.dumps(extra)}" for i in range(5)))
    assert len(unwrap_secrets(capture.outputs["services"])) == 21
    diagram = render_mermaid(Plan(capture))
    edges = EDGE.findall(diagram)
    assert len(edges) <= 35, len(edges)
    nodes = set(re.findall(r"(\w+)(?:\[|\(|\{\{)", diagram))
    assert len(nodes) <= 45, len(nodes)  # roles, schemas, shared accesses, subgraphs: 43; the old drew 63
    matrix = unwrap_secrets(capture.outputs["accessMatrix"])
    expected = {
        (f"role_{r['server']}_{r['role']}", r["profile"], f"schema_{r['server']}_{r['schema']}") for r in matrix
    }
    assert {edge for edge in drawn_access(diagram) if edge[2].startswith("schema_")} == expected
    # The schema every service's login appends to is one node naming them, with one edge.
    assert len([edge for edge in edges if edge[2] == "schema_main_audit"]) == 1


def test_set_overrides_change_the_rendered_port() -> None:
    override = ("--stack", "dev", "--set", "servers.main.hostPort=55432")
    text = plan(*override).out
    assert re.search(r"^  main\s+postgresql\s+container\s+127\.0\.0\.1:55432\s", text, re.MULTILINE)
    assert json.loads(plan(*override, "--format", "json").out)["servers"]["main"]["port"] == 55432
    assert "port=55432 " in plan(*override, "--format", "sql", "--server", "main").out
    assert "127.0.0.1:5432 " in plan("--stack", "dev").out


def test_set_overrides_apply_after_the_stack_file() -> None:
    result = plan("--stack", "prod", "--set", "schedulerBaseUrl=https://book.example", "--format", "json")
    assert json.loads(result.out)["services"]["egm-scheduler"]["env"]["BASE_URL"] == "https://book.example"


def test_undecryptable_secure_values_become_placeholders(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    stack["config"]["engarde:mainAdminPassword"] = {"secure": "v1:AAAAencrypted=="}
    (tmp_path / "Pulumi.encrypted.yaml").write_text(yaml.safe_dump(stack))
    result = plan("--stack", "encrypted", "--format", "json", "--show-secrets", project_dir=tmp_path)
    assert result.code == 0, result.err
    assert "engarde:mainAdminPassword is encrypted" in result.err
    provider = next(r for r in json.loads(result.out)["resources"] if r["name"] == "main-provider")
    assert provider["inputs"]["password"] == "[secure value: engarde:mainAdminPassword]"


# Secrets ------------------------------------------------------------------------------------------


def _leaks(capture: Capture, output: str) -> list[str]:
    passwords = generated_passwords(capture)
    assert passwords
    return [p for p in passwords if p in output or quote(p, safe="") in output]


@pytest.mark.parametrize("format_", FORMATS)
@pytest.mark.parametrize("config", CONFIGS)
def test_no_generated_password_appears_without_show_secrets(config: str, format_: str) -> None:
    result = plan(*argv(config, "--format", format_))
    assert result.code == 0
    assert _leaks(capture_for(config), result.out + result.err) == []


@pytest.mark.parametrize("config", CONFIGS)
def test_secrets_from_the_plan_json_puts_each_password_in_the_sql(config: str, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(plan(*argv(config, "--format", "json", "--show-secrets")).out)
    capture = capture_for(config)
    for resource in capture.resources:
        password = resource.inputs.get("password") or resource.inputs.get("plaintextPassword")
        if resource.type.startswith(("postgresql:", "mysql:")) and isinstance(password, Secret):
            server = server_of(capture, resource)
            assert server is not None
            result = plan(*argv(config, "--format", "sql", "--server", server, "--secrets-from", str(outputs)))
            assert result.code == 0, result.err
            if str(password.value).startswith("SCRAM-SHA-256$"):
                # The role's verifier is of the DSN's password: that password is what the SQL sets.
                written = re.findall(r"PASSWORD '([^']*)'", result.out)
                assert any(is_verifier_of(str(password.value), value) for value in written), resource.name
            else:
                assert f"PASSWORD '{password.value}'" in result.out or f"BY '{password.value}'" in result.out, (
                    resource.name
                )


def test_sql_refuses_show_secrets_and_names_a_password_the_secrets_file_lacks(tmp_path: Path) -> None:
    result = plan(*argv("dev", "--format", "sql", "--show-secrets"))
    assert (result.code, result.out) == (2, "")
    assert "--secrets-from" in result.err
    document = json.loads(plan(*argv("dev", "--format", "json", "--show-secrets")).out)
    del document["services"]["backend"]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(document))
    result = plan(*argv("dev", "--format", "sql", "--server", "main", "--secrets-from", str(outputs)))
    assert (result.code, result.out) == (2, "")
    assert "main_engarde_app_password" in result.err and result.err.count("\n") == 1
    masked = tmp_path / "masked.json"
    masked.write_text(plan(*argv("dev", "--format", "json")).out)
    result = plan(*argv("dev", "--format", "sql", "--secrets-from", str(masked)))
    assert result.code == 2 and "lacks the password of main_" in result.err
    assert _leaks(capture_for("dev"), result.out + result.err) == []


# Errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("langflowPlacement=sideways", "engarde:langflowPlacement"),
        ("servers.main.hostPort=99999", "engarde:servers.main.hostPort"),
        ("runContainers=false", "engarde:servers.main.mode"),
        ("surprise=1", "engarde:surprise"),
        ("images.redis=redis:latest", "engarde:images.redis"),
    ],
)
def test_config_error_exits_2_with_one_line_naming_the_key(assignment: str, key: str) -> None:
    result = plan("--stack", "dev", "--set", assignment)
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith(f"{key}: ")
    assert "Traceback" not in result.err


def test_config_error_from_the_command_line_is_one_line_without_traceback() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "review", "plan", "--stack", "dev", "--set", "langflowPlacement=sideways"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr == "engarde:langflowPlacement: must be one of dedicated, shared (got 'sideways')\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--stack", "staging"), "Pulumi.staging.yaml not found"),
        (("--stack", "dev", "--set", "servers.main.hostPort"), "--set servers.main.hostPort: expected KEY=VALUE"),
        (("--stack", "dev", "--set", "docker:host=ssh://x"), "only engarde: keys"),
        (("--stack", "dev", "--format", "sql", "--server", "flowdb2"), "no such server"),
        (("--stack", "dev", "--set", "langflowPlacement=shared", "--format", "sql", "--server", "flowdb"), "flowdb"),
        (("--stack", "dev", "--server", "main"), "--server applies to --format sql and pgbouncer only"),
    ],
)
def test_unusable_command_lines_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    result = plan(*args)
    assert result.code == 2
    assert result.err.count("\n") == 1 and message in result.err


def test_unexpected_failure_exits_1_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> Capture:
        raise RuntimeError("program failed\nsecond line")

    monkeypatch.setattr(cli, "capture_stack", broken)
    result = plan("--stack", "dev")
    assert (result.code, result.err) == (1, "review plan failed: RuntimeError: program failed\n")
    monkeypatch.setenv("REVIEW_DEBUG", "1")
    assert "Traceback" in plan("--stack", "dev").err


def test_the_plan_does_not_change_between_runs() -> None:
    """Resources register in a different order on every run: the posted plan must not follow it."""
    config, _topology = cli.validated_config("dev", [])
    fresh = Plan(run_program(config.values, "dev", secret_keys=tuple(sorted(config.secret_keys))))
    cached = Plan(capture_for("dev"))
    assert render_markdown(fresh) == render_markdown(cached)
    assert render_sql(fresh) == render_sql(cached)


def test_text_counts_resources_and_components_apart_and_shows_the_tree_on_request() -> None:
    capture = capture_for("dev")
    out = plan(*argv("dev")).out
    deployed = sum(1 for r in capture.resources if r.custom)
    components = len(capture.resources) - deployed
    resources_block = out.split(f"\nResources: {deployed} ", 1)[1].split("\n\n", 1)[0]
    components_block = out.split(f"\nComponents: {components} ", 1)[1].split("\n\n", 1)[0]
    assert sum(int(line.split()[0]) for line in resources_block.splitlines()[1:]) == deployed
    assert sum(int(line.split()[0]) for line in components_block.splitlines()[1:]) == components
    assert "DatabaseRole" in components_block and "DatabaseRole" not in resources_block
    assert "\nComponent tree\n" not in out and out.endswith("Component tree: add --tree to show it\n")
    with_tree = plan(*argv("dev", "--tree")).out
    assert with_tree.count(" (postgresql:Role)") == sum(1 for r in capture.resources if r.type == ROLE_TYPE)
    assert plan(*argv("dev", "--tree", "--format", "json")).code == 2


def test_out_writes_the_filled_script_readable_by_its_owner_only(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(plan(*argv("dev", "--format", "json", "--show-secrets")).out)
    script = tmp_path / "main.sql"
    script.write_text("an older file, world-readable")
    script.chmod(0o644)
    result = plan(
        *argv("dev", "--format", "sql", "--server", "main", "--secrets-from", str(outputs), "--out", str(script))
    )
    assert result.code == 0, result.err
    assert result.out == ""
    assert stat.S_IMODE(script.stat().st_mode) == 0o600
    assert script.read_text().startswith("-- Server main") and "PASSWORD '" in script.read_text()
