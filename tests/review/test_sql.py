"""`--format sql`: the SQL the database resources run, as a psql script and as steps for programs."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pglast
import pytest
from pglast import ast, enums

from review.capture import Capture, Resource, unwrap_secrets
from review.graph import prerequisites, server_of
from review.sql import sql_steps
from tests.review.conftest import CONFIGS, argv, capture_for, plan

GRANT = "postgresql:index/grant:Grant"
DEFAULT_PRIVILEGES = "postgresql:index/defaultPrivileges:DefaultPrivileges"
ROLE = "postgresql:index/role:Role"


def on_server(capture: Capture, type_: str, server: str) -> list[Resource]:
    return [r for r in capture.by_type(type_) if server_of(capture, r) == server]


def without_psql_meta_commands(script: str) -> str:
    """SQL only: `\\connect` lines dropped, `\\gexec` (which sends the query before it) made a `;`."""
    lines = []
    for line in script.splitlines():
        if line.startswith("\\gexec"):
            lines.append(";")
        elif not line.startswith("\\"):
            lines.append(line)
    return "\n".join(lines)


def parsed(script: str) -> list[Any]:
    """The statements' parse trees (pglast nodes; typed Any, as their fields are all optional)."""
    return [raw.stmt for raw in pglast.parse_sql(without_psql_meta_commands(script))]


def of_kind(statements: list[Any], kind: type) -> list[Any]:
    return [statement for statement in statements if isinstance(statement, kind)]


def main_sql(config: str) -> str:
    result = plan(*argv(config, "--format", "sql", "--server", "main"))
    assert result.code == 0, result.err
    return result.out


def _grant_key(statement: Any) -> tuple[object, ...]:
    grantee = statement.grantees[0]
    name = "public" if grantee.roletype == enums.RoleSpecType.ROLESPEC_PUBLIC else grantee.rolename
    objects = tuple(getattr(o, "sval", None) or getattr(o, "relname", None) for o in statement.objects)
    return name, statement.objtype, statement.targtype, objects


@pytest.mark.parametrize("config", CONFIGS)
def test_main_sql_has_one_revoke_then_grant_group_per_grant_resource(config: str) -> None:
    capture = capture_for(config)
    statements = of_kind(parsed(main_sql(config)), ast.GrantStmt)
    groups: list[list[Any]] = []
    for statement in statements:
        if statement.is_grant and groups and _grant_key(groups[-1][0]) == _grant_key(statement):
            groups[-1].append(statement)
        else:
            assert not statement.is_grant, "every GRANT follows the REVOKE of the same resource"
            groups.append([statement])
    grants = on_server(capture, GRANT, "main")
    assert len(groups) == len(grants)
    assert sum(len(group) == 2 for group in groups) == sum(bool(unwrap_secrets(g.inputs)["privileges"]) for g in grants)
    grantees = Counter(_grant_key(group[0])[0] for group in groups)
    assert grantees == Counter(unwrap_secrets(g.inputs)["role"] for g in grants)


@pytest.mark.parametrize("config", CONFIGS)
def test_main_sql_has_one_default_privileges_grant_per_resource(config: str) -> None:
    capture = capture_for(config)
    statements = of_kind(parsed(main_sql(config)), ast.AlterDefaultPrivilegesStmt)
    resources = on_server(capture, DEFAULT_PRIVILEGES, "main")
    revokes = [s for s in statements if not s.action.is_grant]
    grants = [s for s in statements if s.action.is_grant]
    assert len(revokes) == len(resources)
    assert len(grants) == sum(bool(unwrap_secrets(r.inputs)["privileges"]) for r in resources)
    owners = Counter(s.options[0].arg[0].rolename for s in grants)
    granting = [unwrap_secrets(r.inputs) for r in resources if unwrap_secrets(r.inputs)["privileges"]]
    assert owners == Counter(inputs["owner"] for inputs in granting)


def _plpgsql_statements(do: Any) -> list[str]:
    body = do.args[0].arg.sval
    tag = "$body$"
    assert tag not in body
    tree = pglast.parse_plpgsql(f"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS {tag}{body}{tag}")
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "PLpgSQL_stmt_execsql" in node:
                found.append(node["PLpgSQL_stmt_execsql"]["sqlstmt"]["PLpgSQL_expr"]["query"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found


@pytest.mark.parametrize("show_secrets", [False, True])
def test_each_role_is_created_or_altered_inside_a_do_block_that_parses(show_secrets: bool) -> None:
    capture = capture_for("dev")
    extra = ("--show-secrets",) if show_secrets else ()
    script = plan(*argv("dev", "--format", "sql", "--server", "main", *extra)).out
    blocks = of_kind(parsed(script), ast.DoStmt)
    created: list[str] = []
    for block in blocks:
        statements = _plpgsql_statements(block)
        if not statements:
            continue  # the audit table's temporary membership (dynamic EXECUTE only), not a role
        create, alter = statements
        create_stmt, alter_stmt = (parsed(sql)[0] for sql in (create, alter))
        assert (type(create_stmt).__name__, type(alter_stmt).__name__) == ("CreateRoleStmt", "AlterRoleStmt")
        assert create_stmt.role == alter_stmt.role.rolename
        created.append(create_stmt.role)
    assert sorted(created) == sorted(unwrap_secrets(r.inputs)["name"] for r in on_server(capture, ROLE, "main"))
    assert not any(isinstance(s, ast.CreateRoleStmt) for s in parsed(script)), "CREATE ROLE only inside DO"


@pytest.mark.parametrize("config", CONFIGS)
def test_steps_come_after_everything_their_resource_waits_for(config: str) -> None:
    capture = capture_for(config)
    needs = prerequisites(capture)
    for server in capture.outputs["servers"]:
        steps = sql_steps(capture, server)
        first_step: dict[str, int] = {}
        for position, step in enumerate(steps):
            first_step.setdefault(step.urn, position)
        for position, step in enumerate(steps):
            for dependency in needs[step.urn]:
                assert first_step.get(dependency, -1) < position, (step.resource, dependency)


def test_database_specific_statements_run_after_connecting_to_their_database() -> None:
    capture = capture_for("dev")
    expected = {step.resource: step.database for step in sql_steps(capture, "flowdb")}
    current = None
    checked = 0
    for line in plan(*argv("dev", "--format", "sql", "--server", "flowdb")).out.splitlines():
        if line.startswith("\\connect "):
            current = line.split(" ", 1)[1]
        elif line.startswith("-- ") and line[3:] in expected and expected[line[3:]] is not None:
            assert current == expected[line[3:]], line
            checked += 1
    assert checked == len([s for s in expected.values() if s == "langflow"]) > 0


def test_databases_are_created_only_if_absent_and_schemas_adopted() -> None:
    script = plan(*argv("dev", "--format", "sql", "--server", "flowdb")).out
    guarded = re.search(
        r"^SELECT '(CREATE DATABASE \"langflow\" OWNER \"langflow_app\" [^\n]*)'\n"
        r"WHERE NOT EXISTS \(SELECT FROM pg_catalog\.pg_database WHERE datname = 'langflow'\)\n\\gexec$",
        script,
        re.MULTILINE,
    )
    assert guarded is not None
    assert 'CREATE SCHEMA IF NOT EXISTS "madansara" AUTHORIZATION "madansara_user"' in main_sql("dev")


def test_prod_adopts_its_databases_and_says_how_the_provider_elevates() -> None:
    script = plan(*argv("prod", "--format", "sql", "--server", "main")).out
    assert "CREATE DATABASE" not in script
    assert "\\connect railway" in script
    assert "without superuser" in script


def test_the_audit_table_script_runs_as_given_in_one_transaction() -> None:
    capture = capture_for("dev")
    table = next(r for r in capture.resources if r.name == "main-audit-log-table")
    sql = unwrap_secrets(table.inputs)["sql"]
    assert f"BEGIN;\n{sql.rstrip()}\nCOMMIT;" in main_sql("dev")


def test_scheduler_sql_is_rerunnable_mysql() -> None:
    script = plan(*argv("dev", "--format", "sql", "--server", "scheduler", "--show-secrets")).out
    capture = capture_for("dev")
    passwords = {
        unwrap_secrets(r.inputs)["user"]: unwrap_secrets(r.inputs)["plaintextPassword"]
        for r in capture.resources
        if r.type == "mysql:index/user:User"
    }
    password, backup_password = passwords["scheduler_user"], passwords["scheduler_backup"]
    statements = [line for line in script.splitlines() if line and not line.startswith("--")]
    assert statements == [
        f"CREATE USER IF NOT EXISTS 'scheduler_user'@'%' IDENTIFIED BY '{password}' REQUIRE NONE;",
        f"ALTER USER 'scheduler_user'@'%' IDENTIFIED BY '{password}' REQUIRE NONE;",
        f"CREATE USER IF NOT EXISTS 'scheduler_backup'@'%' IDENTIFIED BY '{backup_password}' REQUIRE NONE;",
        f"ALTER USER 'scheduler_backup'@'%' IDENTIFIED BY '{backup_password}' REQUIRE NONE;",
        "CREATE DATABASE IF NOT EXISTS `easyappointments` CHARACTER SET `utf8mb4` COLLATE `utf8mb4_unicode_ci`;",
        "ALTER DATABASE `easyappointments` CHARACTER SET `utf8mb4` COLLATE `utf8mb4_unicode_ci`;",
        "GRANT ALL PRIVILEGES ON `easyappointments`.* TO 'scheduler_user'@'%';",
        "GRANT SELECT, SHOW VIEW, TRIGGER ON `easyappointments`.* TO 'scheduler_backup'@'%';",
    ]


def test_all_servers_script_has_a_section_per_server_that_says_how_to_apply_it() -> None:
    script = plan(*argv("dev", "--format", "sql")).out
    sections = re.findall(r"^-- Server (\w+)\n-- Apply[^\n]*\n", script, re.MULTILINE)
    assert sections == ["main", "flowdb", "scheduler"]
    assert 'psql "host=127.0.0.1 port=5433 user=postgres dbname=postgres sslmode=disable"' in script
    assert "for review, not for applying" in script
