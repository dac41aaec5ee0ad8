"""No secret leaks: every generated password and admin secret stays inside secret Outputs."""

from __future__ import annotations

import io
import json
import logging
from typing import Any
from urllib.parse import quote

import pytest

from resource_types import CONTAINER
from review.__main__ import main as review_main
from review.capture.program import Capture, Secret, known_secrets, run_program
from review.capture.redact import masked
from tests.conftest import ADMIN_PASSWORDS, stack_file_config

CREDENTIAL_WORDS = ("PASSWORD", "SECRET", "_URL", "DATA_SOURCE_NAME")


def _without_secrets(inputs: dict[str, Any]) -> Any:
    """Inputs with every secret masked, less the dynamic provider's serialized code."""
    return masked({k: v for k, v in inputs.items() if k != "__provider"})


def _leaks(text: str, secrets: frozenset[str]) -> list[str]:
    return sorted({s[:4] + "…" for s in secrets if s in text or quote(s, safe="") in text})


def _secrets_of(result: Capture) -> frozenset[str]:
    found = known_secrets(result) | frozenset(ADMIN_PASSWORDS.values())
    assert len(found) >= 15, "the scan must know the stack's passwords"
    return found


@pytest.mark.parametrize("stack", ["dev", "prod", "shared"])
def test_no_secret_in_resource_inputs_outside_secret_outputs(stack: str, request: pytest.FixtureRequest) -> None:
    result: Capture = request.getfixturevalue(stack)
    secrets = _secrets_of(result)
    for resource in result.resources:
        text = json.dumps(_without_secrets(resource.inputs), default=str)
        assert not _leaks(text, secrets), f"{resource.type} {resource.name}"


@pytest.mark.parametrize("stack", ["dev", "prod", "shared"])
def test_no_secret_in_plain_stack_outputs(stack: str, request: pytest.FixtureRequest) -> None:
    result: Capture = request.getfixturevalue(stack)
    plain = {name: value for name, value in result.outputs.items() if not isinstance(value, Secret)}
    assert set(plain) == {"servers", "accessMatrix", "connectionBudget", "alertRules", "logins", "dsnRoutes"}
    assert not _leaks(json.dumps(plain), _secrets_of(result))


def test_every_credential_env_var_is_secret(dev: Capture) -> None:
    services = dev.outputs["services"]
    assert isinstance(services, Secret)
    for container in dev.by_type(CONTAINER):
        envs = container.inputs.get("envs")
        names = [e.split("=", 1)[0] for e in (envs.value if isinstance(envs, Secret) else envs or [])]
        if any(word in name for name in names for word in CREDENTIAL_WORDS):
            assert isinstance(envs, Secret), container.name


def test_no_secret_in_log_lines_of_a_run(caplog: pytest.LogCaptureFixture) -> None:
    config = {**stack_file_config("prod"), **ADMIN_PASSWORDS}
    with caplog.at_level(logging.DEBUG):
        result = run_program(config, "prod", secret_keys=tuple(ADMIN_PASSWORDS))
    assert caplog.records, "the run must log something for this check to mean anything"
    assert not _leaks(caplog.text, _secrets_of(result))


@pytest.mark.parametrize(
    "broken",
    [
        {"servers": {"main": {"mode": "external"}}},
        {"servers": {"main": {"mode": "external", "host": "db", "sslmode": "maybe"}}},
        {"unknownKey": "x"},
    ],
)
def test_no_secret_in_error_messages(broken: dict[str, Any]) -> None:
    config = {**ADMIN_PASSWORDS, **broken}
    argv = ["plan", "--stack", "prod"]
    for key, value in config.items():
        argv += ["--set", f"{key}={json.dumps(value) if isinstance(value, dict) else value}"]
    out, err = io.StringIO(), io.StringIO()
    assert review_main(argv, out, err) == 2
    assert err.getvalue().count("\n") == 1
    assert not _leaks(out.getvalue() + err.getvalue(), frozenset(ADMIN_PASSWORDS.values()))
