"""`review plan` shows each server's connection budget and renders the pgbouncer.ini a platform deploys."""

from __future__ import annotations

import json

from tests.review.conftest import plan

POOLED = ("--set", "servers.main.pooler=pgbouncer")


def test_text_plan_shows_who_gets_how_many_and_the_headroom() -> None:
    result = plan("--stack", "dev")
    assert result.code == 0, result.err
    section = result.out.split("Connection budget", 1)[1].split("Component tree", 1)[0]
    assert "madansara_user (madan-sara)" in section and "connectionLimits.madan-sara" in section
    assert "116 of max_connections 200" in section and "headroom" in section and " 84\n" in section
    assert "36 of max_connections 200" in section


def test_markdown_and_json_plans_carry_the_budget() -> None:
    markdown = plan("--stack", "prod", "--format", "markdown")
    assert markdown.code == 0, markdown.err
    assert "**main**: 116 of max_connections 200, headroom 84" in markdown.out
    assert "**flowdb**: 36 of max_connections 100, headroom 64" in markdown.out
    document = json.loads(plan("--stack", "prod", "--format", "json").out)
    assert document["connectionBudget"]["main"]["used"] == 116
    assert document["poolers"] == {}


def test_pooler_config_is_rendered_offline_and_its_auth_file_masked() -> None:
    result = plan("--stack", "dev", *POOLED, "--format", "pgbouncer")
    assert result.code == 0, result.err
    assert result.out.startswith(";; PgBouncer in front of the main server")
    assert "auth_type = scram-sha-256" in result.out and "SCRAM-SHA-256$" not in result.out
    document = json.loads(plan("--stack", "dev", *POOLED, "--format", "json").out)
    assert document["poolers"]["main"]["config"] == result.out
    assert document["poolers"]["main"]["authFile"] == "[secret]"
    text = plan("--stack", "dev", *POOLED).out
    assert "PgBouncer for main (edoburu/pgbouncer:v1.24.1-p1)" in text and "SCRAM-SHA-256$" not in text


def test_pgbouncer_format_without_a_pooler_is_a_usage_error() -> None:
    result = plan("--stack", "dev", "--format", "pgbouncer")
    assert (result.code, result.out) == (2, "")
    assert "no server has a pooler" in result.err and result.err.count("\n") == 1


def test_over_budget_plan_exits_2_with_one_line() -> None:
    result = plan("--stack", "dev", "--set", "connectionLimits.backend=150")
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("engarde:servers.main.maxConnections: 200 does not fit the connection budget of 236")
    assert result.err.count("\n") == 1
