"""The plugins the real-engine tests run are the releases the program's SDKs are."""

from __future__ import annotations

import re

from tests.conftest import PROJECT_DIR
from toolchain.build import versions


def pinned() -> dict[str, str]:
    """requirements.in's exact pins (the stack's direct requirements): package -> version."""
    pins = {}
    for line in (PROJECT_DIR / "requirements.in").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][^\s;#]*)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_requirements_pin_the_sdks_of_the_plugins_the_toolchain_provides() -> None:
    chosen = versions()
    pins = pinned()
    assert pins["pulumi"] == chosen["python"]["sdk"]
    for provider, entry in chosen["providers"].items():
        assert pins[f"pulumi-{provider}"] == entry["version"], provider


def test_every_provider_the_program_uses_is_in_the_toolchain() -> None:
    sdks = {name.removeprefix("pulumi-") for name in pinned() if name.startswith("pulumi-")}
    assert sdks == set(versions()["providers"])
