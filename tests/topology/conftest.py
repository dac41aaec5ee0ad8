"""Reports how many hostile-config cases the property tests tried."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.topology.test_config_properties import CASES

    if CASES:
        terminalreporter.write_line(
            f"hostile config: {len(CASES)} cases tried, {CASES.count('built')} built a safe topology, "
            f"{CASES.count('refused')} refused with the key named"
        )
