"""`python -m review env`: stack outputs into dotenv files that python-dotenv and the shell read alike."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st

from components.common import URL_SAFE_SPECIALS
from review import __main__ as cli
from review.capture.program import unwrap_secrets
from review.exports.env import EnvError, quote_value, render_dotenv
from tests.conftest import capture
from tests.review.conftest import Result, capture_for

HOSTILE = {
    "SPECIALS": URL_SAFE_SPECIALS,
    "SPACES": "  leading and trailing  ",
    "DOLLAR": "pa$$word $HOME $(id) `id`",
    "DOUBLE_QUOTE": 'say "hi" # not a comment',
    "SINGLE_QUOTE": "it's",
    "BACKSLASH": "C:\\path\\n\\",
    "QUOTE_AND_BACKSLASH": "it's a \\ here",
    "NEWLINES": "line one\nline two\n",
    "TAB_AND_UNICODE": "tab\there é ☃",
    "EQUALS_HASH": "a=b#c; d&e|f>g<h",
    "EMPTY": "",
    "DSN": "postgresql://u:%21%23%24@main:5432/engarde?options=-c%20search_path%3Dx%2Cpublic",
}


def shell_reads(path: Path) -> dict[str, str]:
    """What `set -a; . FILE` exports, as a child process sees it."""
    dump = "import json, os; print(json.dumps(dict(os.environ)))"
    result = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; exec "$2" -c "$3"', "bash", str(path), sys.executable, dump],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        check=True,
    )
    environ: dict[str, str] = json.loads(result.stdout)
    return environ


def dotenv_reads(path: Path) -> dict[str, str | None]:
    return dict(dotenv_values(path))


def test_hostile_values_round_trip_through_python_dotenv_and_the_shell(tmp_path: Path) -> None:
    path = tmp_path / "svc.env"
    path.write_text(render_dotenv("svc", HOSTILE))
    assert dotenv_reads(path) == HOSTILE
    from_shell = shell_reads(path)
    assert {key: from_shell[key] for key in HOSTILE} == HOSTILE


@pytest.mark.parametrize(
    "value",
    ["it's $HOME", "it's `id`", 'it\'s "x"', "back\\slash and $x", "${HOME}", "a\0b", "a\rb"],
)
def test_values_no_quoting_represents_are_refused_naming_the_key(value: str) -> None:
    with pytest.raises(EnvError) as raised:
        quote_value("backend", "DATABASE_URL", value)
    assert str(raised.value).startswith("backend: DATABASE_URL: ")
    assert value not in str(raised.value)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30), min_size=1, max_size=5))
def test_any_value_round_trips_or_is_refused(tmp_path_factory: pytest.TempPathFactory, values: list[str]) -> None:
    env: dict[str, str] = {}
    for position, value in enumerate(values):
        try:
            quote_value("svc", f"V{position}", value)
        except EnvError:
            continue
        env[f"V{position}"] = value
    path = tmp_path_factory.mktemp("env") / "svc.env"
    path.write_text(render_dotenv("svc", env))
    assert dotenv_reads(path) == env
    from_shell = shell_reads(path)
    assert {key: from_shell[key] for key in env} == env


def env_command(*argv: str, stdin: str = "") -> Result:
    out, err = io.StringIO(), io.StringIO()
    previous = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = cli.main(["env", *argv], out=out, err=err)
    finally:
        sys.stdin = previous
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def stack_output() -> dict[str, object]:
    """The shape of `pulumi stack output --json --show-secrets` for the dev stack."""
    capture = capture_for("dev")
    return {name: unwrap_secrets(value) for name, value in capture.outputs.items()}


def test_out_writes_one_private_file_per_service_with_the_outputs_values(
    tmp_path: Path, stack_output: dict[str, object]
) -> None:
    source = tmp_path / "outputs.json"
    source.write_text(json.dumps(stack_output))
    result = env_command("--out", str(tmp_path / "env"), "--from", str(source))
    assert result.code == 0, result.err
    services = stack_output["services"]
    assert isinstance(services, dict)
    assert sorted(p.name for p in (tmp_path / "env").iterdir()) == sorted(f"{name}.env" for name in services)
    for name, body in services.items():
        path = tmp_path / "env" / f"{name}.env"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert dotenv_reads(path) == body["env"]
        from_shell = shell_reads(path)
        assert {key: from_shell[key] for key in body["env"]} == body["env"]


def test_existing_files_are_made_private_again(tmp_path: Path, stack_output: dict[str, object]) -> None:
    (tmp_path / "backend.env").write_text("old")
    (tmp_path / "backend.env").chmod(0o644)
    result = env_command("--out", str(tmp_path), stdin=json.dumps(stack_output))
    assert result.code == 0, result.err
    assert stat.S_IMODE((tmp_path / "backend.env").stat().st_mode) == 0o600


def test_one_service_on_stdout_as_dotenv_and_as_json(stack_output: dict[str, object]) -> None:
    services = stack_output["services"]
    assert isinstance(services, dict)
    dotenv = env_command("--service", "backend", stdin=json.dumps(stack_output))
    assert dotenv.code == 0
    assert dotenv_values(stream=io.StringIO(dotenv.out)) == services["backend"]["env"]
    as_json = env_command("--service", "backend", "--format", "json", stdin=json.dumps(stack_output))
    assert json.loads(as_json.out) == services["backend"]["env"]


def test_unknown_service_exits_2_naming_it_and_the_known_ones(stack_output: dict[str, object]) -> None:
    result = env_command("--service", "billing", stdin=json.dumps(stack_output))
    assert result.code == 2
    assert result.err.startswith("no service 'billing' in the stack output (services: backend, backend-copy,")
    assert result.out == ""


def test_masked_input_is_refused_instead_of_writing_masks(tmp_path: Path, stack_output: dict[str, object]) -> None:
    masked = {**stack_output, "services": "[secret]"}
    result = env_command("--out", str(tmp_path / "env"), stdin=json.dumps(masked))
    assert result.code == 2 and "--show-secrets" in result.err
    assert not (tmp_path / "env").exists()
    plan_masked = cli.main(["plan", "--stack", "dev", "--format", "json"], out=(plan_out := io.StringIO()))
    assert plan_masked == 0
    result = env_command("--service", "backend", stdin=plan_out.getvalue())
    assert result.code == 2 and result.err.startswith("backend: DATABASE_URL is masked")


def test_a_refused_value_writes_no_file_and_shows_no_value(tmp_path: Path) -> None:
    document = {"services": {"a": {"env": {"OK": "fine"}}, "b": {"env": {"BAD": "it's $secret-value"}}}}
    result = env_command("--out", str(tmp_path / "env"), stdin=json.dumps(document))
    assert result.code == 2
    assert result.err.startswith("b: BAD: ") and "secret-value" not in result.err
    assert not (tmp_path / "env").exists()


def test_with_a_pooler_out_writes_its_files_not_an_empty_env(tmp_path: Path) -> None:
    pooled = capture("dev", servers={"main": {"pooler": "pgbouncer"}})
    outputs = {name: unwrap_secrets(value) for name, value in pooled.outputs.items()}
    result = env_command("--out", str(tmp_path), stdin=json.dumps(outputs))
    assert result.code == 0, result.err
    assert not (tmp_path / "pgbouncer-main.env").exists()
    folder = tmp_path / "pgbouncer-main"
    assert sorted(p.name for p in folder.iterdir()) == ["pgbouncer.ini", "userlist.txt"]
    files = outputs["services"]["pgbouncer-main"]["files"]
    assert (folder / "pgbouncer.ini").read_text() == files["/etc/pgbouncer/pgbouncer.ini"]
    assert (folder / "userlist.txt").read_text() == files["/etc/pgbouncer/userlist.txt"]
    assert '"engarde_app" "SCRAM-SHA-256$' in (folder / "userlist.txt").read_text()
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (tmp_path / "backend.env").exists()
