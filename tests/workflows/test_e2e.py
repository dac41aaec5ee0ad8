"""The end-to-end workflow: the real CLI and providers deploy dev, then audit, health, no-change preview, destroy."""

from __future__ import annotations

import re
from typing import Any

import yaml

from review.capture.program import PROJECT_DIR

WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "e2e.yml"


def _runs() -> list[str]:
    workflow: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    return [step["run"] for step in job["steps"] if "run" in step]


def test_steps_run_in_the_order_a_release_check_needs() -> None:
    script = "\n".join(_runs())
    milestones = [
        "pulumi up --yes",
        "python -m review audit --stack",
        "http://langflow-server:7860/health_check",
        "pulumi preview --expect-no-changes",
        "pulumi destroy --yes",
    ]
    positions = [script.find(milestone) for milestone in milestones]
    assert -1 not in positions, dict(zip(milestones, positions, strict=True))
    assert positions == sorted(positions)


def test_uses_a_local_backend_and_pins_actions_and_the_cli() -> None:
    workflow: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    assert job["env"]["PULUMI_BACKEND_URL"].startswith("file://")
    uses = [step["uses"] for step in job["steps"] if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action) for action in uses)
    assert re.search(r"get\.pulumi\.com \| sh -s -- --version \d+\.\d+\.\d+", "\n".join(_runs()))
    destroy = next(step for step in job["steps"] if "pulumi destroy" in step.get("run", ""))
    assert destroy["if"] == "always()"
