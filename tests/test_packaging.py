"""The editable install `make` does: `engarde-review` and `python -m review` work from any directory
only if pyproject.toml lists every package the review tools import."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from review.capture.program import PROJECT_DIR

PROGRAM = """
import io, json, sys
from pathlib import Path
from review.__main__ import main
status = main(["plan", "--stack", "dev"], out=io.StringIO(), err=io.StringIO())
root, venv = Path.cwd().resolve(), Path(sys.prefix).resolve()  # ./venv lives inside the checkout
files = {name: Path(getattr(module, "__file__", None) or "/").resolve() for name, module in list(sys.modules.items())}
packages = {name.split(".")[0] for name, file in files.items()
            if "." in name and file.is_relative_to(root) and not file.is_relative_to(venv)}
print(json.dumps({"status": status, "packages": sorted(packages)}))
"""


def test_pyproject_installs_every_package_the_review_tools_import() -> None:
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["engarde-review"] == "review.__main__:main"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=PROJECT_DIR, capture_output=True, text=True, check=True, timeout=120
    )
    run = json.loads(done.stdout)
    assert run["status"] == 0
    assert set(run["packages"]) <= set(pyproject["tool"]["setuptools"]["packages"]), run["packages"]
