"""What a test does when a prerequisite that `make deps` installs is missing: outside CI it skips, with a
line naming what is missing and `make deps`; under CI (`CI` set) it fails, since CI installs everything."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

DEPS_COMMAND = "make deps"


def missing_prerequisite(what: str) -> NoReturn:
    message = f"{what} is not installed: run `{DEPS_COMMAND}`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


DEPS_POSTGRES = (15, 17)
"""The PostgreSQL majors `make deps` installs (15 from Debian, 17 from its pinned build): the default
selection of the real-server and end-to-end tests."""
