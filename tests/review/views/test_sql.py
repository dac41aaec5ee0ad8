"""`--format sql`: the SQL the database resources run, as a psql script and as steps for programs."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from typing import Any

import pglast
import pytest
from pglast import ast, enums
from psycopg.conninfo import conninfo_to_dict

from resource_types import PG_DEFAULT_PRIVILEGES as DEFAULT_PRIVILEGES
from resource_types import PG_GRANT as GRANT
from resource_types import PG_ROLE as ROLE
from review.capture.program import Capture, Resource, unwrap_secrets
from review.views.sql import conninfo_value, secret_sources, secrets_from_outputs, sql_steps
from tests.graph import plan_of
from tests.review.conftest import CONFIGS, argv, capture_for, plan, plan_for
from topology.scram import is_verifier_of


def on_server(capture: Capture, type_: str, server: str) -> list[Resource]:
    return [r for r in capture.by_type(type_) if plan_of(capture).server_of(r) == server]


def without_psql_meta_commands(script: str) -> str:
    """SQL only: `\\connect` lines dropped, psql variables (`:'name'`) made literals."""
    lines = [line for line in script.splitlines() if not line.startswith("\\")]
    return re.sub(r":'(\w+)'", r"'\1'", "\n".join(lines))


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


def test_each_role_is_one_plain_create_role_then_its_memberships_and_search_path() -> None:
    capture = capture_for("dev")
    statements = parsed(main_sql("dev"))
    created = [s.role for s in of_kind(statements, ast.CreateRoleStmt)]
    assert sorted(created) == sorted(unwrap_secrets(r.inputs)["name"] for r in on_server(capture, ROLE, "main"))
    assert len(set(created)) == len(created), "one CREATE ROLE per role, no existence check around it"
    for block in of_kind(statements, ast.DoStmt):
        assert "CREATE ROLE" not in block.args[0].arg.sval
    search_paths = [s for s in of_kind(statements, ast.AlterRoleSetStmt) if s.setstmt.name == "search_path"]
    assert sorted(s.role.rolename for s in search_paths) == sorted(created)


@pytest.mark.parametrize("config", CONFIGS)
def test_steps_come_after_everything_their_resource_waits_for(config: str) -> None:
    stack_plan = plan_for(config)
    needs = stack_plan.prerequisites
    for server in stack_plan.outputs["servers"]:
        steps = sql_steps(stack_plan, server)
        first_step: dict[str, int] = {}
        for position, step in enumerate(steps):
            first_step.setdefault(step.urn, position)
        for position, step in enumerate(steps):
            for dependency in needs[step.urn]:
                assert first_step.get(dependency, -1) < position, (step.resource, dependency)


def test_database_specific_statements_run_after_connecting_to_their_database() -> None:
    expected = {step.resource: step.database for step in sql_steps(plan_for("dev"), "flowdb")}
    current = None
    checked = 0
    for line in plan(*argv("dev", "--format", "sql", "--server", "flowdb")).out.splitlines():
        if line.startswith("\\connect "):
            current = line.split(" ", 1)[1]
        elif line.startswith("-- ") and line[3:] in expected and expected[line[3:]] is not None:
            assert current == expected[line[3:]], line
            checked += 1
    assert checked == len([s for s in expected.values() if s == "langflow"]) > 0


def test_databases_are_created_plainly_with_their_owner_granted_around_and_schemas_adopted() -> None:
    script = plan(*argv("dev", "--format", "sql", "--server", "flowdb")).out
    assert (
        'GRANT "langflow_app" TO "postgres";\n'
        'CREATE DATABASE "langflow" OWNER "langflow_app" TEMPLATE "template0" ENCODING \'UTF8\'  ALLOW_CONNECTIONS true'
        " CONNECTION LIMIT -1 IS_TEMPLATE false;\n"
        'REVOKE "langflow_app" FROM "postgres";\n'
    ) in script
    assert "IF NOT EXISTS (SELECT FROM pg_catalog.pg_database" not in script
    adopted = (
        "    IF EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'madansara') THEN\n"
        '        ALTER SCHEMA "madansara" OWNER TO "madansara_user";\n'
        "    ELSE\n"
        '        CREATE SCHEMA IF NOT EXISTS "madansara" AUTHORIZATION "madansara_user";\n'
    )
    assert adopted in main_sql("dev")


def test_prod_adopts_its_databases_and_shows_the_providers_temporary_elevation() -> None:
    script = plan(*argv("prod", "--format", "sql", "--server", "main")).out
    assert "CREATE DATABASE" not in script
    assert "\\connect railway" in script
    assert "postgres is not a superuser" in script
    assert (
        'GRANT "madansara_user" TO "postgres";\n'
        'ALTER DEFAULT PRIVILEGES FOR ROLE "madansara_user" IN SCHEMA "madansara" REVOKE ALL ON TABLES FROM'
    ) in script
    grants = script.count('" TO "postgres";')
    assert grants > 0 and grants == script.count('" FROM "postgres";')


def test_the_audit_table_script_runs_as_given_in_one_transaction() -> None:
    capture = capture_for("dev")
    table = next(r for r in capture.resources if r.name == "main-audit-log-table")
    sql = unwrap_secrets(table.inputs)["sql"]
    assert f"BEGIN;\n{sql.rstrip()}\nCOMMIT;" in main_sql("dev")


def test_scheduler_sql_is_what_mysql_provider_1_9_runs() -> None:
    script = plan(*argv("dev", "--format", "sql", "--server", "scheduler")).out
    statements = [line for line in script.splitlines() if line and not line.startswith("--")]
    guard = "SELECT IF('${{{}}}' LIKE CONCAT('$', '{{%'), (SELECT 1 UNION ALL SELECT 2), 1) AS filled;"
    assert statements == [
        # Not the provider's: the script's own refusal to run with a placeholder left (see the apply tests).
        guard.format("scheduler_scheduler_user_password"),
        guard.format("scheduler_scheduler_backup_password"),
        "CREATE USER 'scheduler_user'@'%' IDENTIFIED BY '${scheduler_scheduler_user_password}' REQUIRE NONE;",
        "CREATE USER 'scheduler_backup'@'%' IDENTIFIED BY '${scheduler_scheduler_backup_password}' REQUIRE NONE;",
        "CREATE DATABASE `easyappointments` CHARACTER SET `utf8mb4` COLLATE `utf8mb4_unicode_ci`;",
        "GRANT ALL PRIVILEGES ON `easyappointments`.* TO 'scheduler_user'@'%';",
        "GRANT SELECT, SHOW VIEW, TRIGGER ON `easyappointments`.* TO 'scheduler_backup'@'%';",
    ]
    assert "--   scheduler_scheduler_user_password: services.egm-scheduler.env.DB_PASSWORD" in script


def test_all_servers_script_has_a_section_per_server_that_says_how_to_apply_it() -> None:
    script = plan(*argv("dev", "--format", "sql")).out
    sections = re.findall(r"^-- Server (\w+)\n-- Apply[^\n]*\n", script, re.MULTILINE)
    assert sections == ["main", "flowdb", "scheduler"]
    assert "psql 'host=127.0.0.1 port=5433 user=postgres dbname=postgres sslmode=disable'" in script
    assert "mysql --host=127.0.0.1 --port=3306 --user=root --ssl-mode=DISABLED -p < scheduler.sql" in script
    assert "-- Passwords are psql variables, from `pulumi stack output --json --show-secrets`:" in script
    assert "--   main_engarde_app_password: the password in the URL at services.backend.env.DATABASE_URL" in script


@pytest.mark.parametrize("config", CONFIGS)
def test_stack_outputs_fill_every_password_with_the_value_the_role_is_given(config: str) -> None:
    """`pulumi stack output --json --show-secrets` is the outputs, unwrapped: each variable's value
    read from it is the password the resource sets, so the SQL and the DSNs agree."""
    stack_plan = plan_for(config)
    document = unwrap_secrets(stack_plan.outputs)
    for server in stack_plan.outputs["servers"]:
        sources = secret_sources(stack_plan, server)
        values = secrets_from_outputs(stack_plan, server, document)
        assert set(values) == {source.variable for source in sources}
        for source in sources:
            inputs = unwrap_secrets(source.resource.inputs)
            given, value = str(inputs.get("password", inputs.get("plaintextPassword"))), values[source.variable]
            # A role is given the SCRAM verifier of its DSN's password: the variable is that password.
            assert is_verifier_of(given, value) if given.startswith("SCRAM-SHA-256$") else value == given
            assert source.path is not None and source.path[0] == "services"


def test_the_apply_line_quotes_the_admin_and_database_as_libpq_and_the_shell_read_them() -> None:
    assert conninfo_value("postgres") == "postgres"
    assert conninfo_value("ops admin") == "'ops admin'"
    assert conninfo_value("o'brien") == "'o\\'brien'"
    assert conninfo_value("back\\slash") == "'back\\\\slash'"
    script = plan(*argv("dev", "--format", "sql", "--server", "main", "--set", "servers.main.mode=external",
                        "--set", "servers.main.host=127.0.0.1", "--set", "servers.main.adminUser=o'brien ops",
                        "--set", "servers.main.sslmode=disable", "--set", "servers.main.maxConnections=200",
                        "--set", "servers.main.version=15", "--set", "mainAdminPassword=x")).out  # fmt: skip
    line = next(line for line in script.splitlines() if line.startswith("-- Apply"))
    command = shlex.split(line.removeprefix("-- Apply as the provider's admin: "))
    assert command[0] == "psql"
    assert conninfo_to_dict(command[1])["user"] == "o'brien ops"
