"""The PR workflow: `pulumi preview` of dev and prod, and the offline plan as a PR comment."""

from __future__ import annotations

import re
from typing import Any

import yaml

from review.capture.program import PROJECT_DIR

WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "preview.yml"


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_runs_on_pull_requests_with_actions_pinned_to_commits() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the `on:` key as true
    uses = [step["uses"] for step in _steps(workflow) if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action) for action in uses)


def test_previews_dev_and_prod_with_pulumi_commenting_on_the_pr() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = next(j for j in workflow["jobs"].values() if any("pulumi/actions@" in s.get("uses", "") for s in j["steps"]))
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    preview = next(s for s in job["steps"] if "pulumi/actions@" in s.get("uses", ""))
    assert preview["with"]["command"] == "preview"
    assert preview["with"]["comment-on-pr"] is True
    assert job["permissions"]["pull-requests"] == "write"


def test_posts_the_offline_dev_plan_as_a_sticky_comment() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = _steps(workflow)
    render = next(s for s in steps if "python -m review plan" in s.get("run", ""))
    assert "python -m review plan --stack dev --format markdown > plan.md" in render["run"]
    comment = next(s for s in steps if "sticky-pull-request-comment@" in s.get("uses", ""))
    assert comment["with"]["path"] == "plan.md"


CI_WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "ci.yml"


def test_ci_runs_the_suite_on_a_fresh_debian_and_previews_with_the_policy_pack() -> None:
    workflow = yaml.safe_load(CI_WORKFLOW.read_text())
    assert "pull_request" in workflow[True]
    uses = [step["uses"] for step in _steps(workflow) if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action) for action in uses)
    checks = next(j for j in workflow["jobs"].values() if any(s.get("run") == ".ci/run" for s in j["steps"]))
    assert checks["container"].startswith("debian:")
    policy = next(
        j for j in workflow["jobs"].values() if any("pulumi/actions@" in s.get("uses", "") for s in j["steps"])
    )
    assert policy["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    preview = next(s for s in policy["steps"] if "pulumi/actions@" in s.get("uses", ""))
    assert (preview["with"]["command"], preview["with"]["policyPacks"]) == ("preview", "policy")
    pack = yaml.safe_load((PROJECT_DIR / "policy" / "PulumiPolicy.yaml").read_text())
    install = next(s["run"] for s in policy["steps"] if "policy/requirements.txt" in s.get("run", ""))
    assert pack["runtime"]["options"]["virtualenv"] == "../venv" and "python -m venv venv" in install


def test_posts_the_diff_against_the_pull_requests_base_per_stack() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["review-diff"]
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    checkout = next(s for s in job["steps"] if "actions/checkout@" in s.get("uses", ""))
    assert checkout["with"]["fetch-depth"] == 0  # the base commit must be in the clone
    diff = next(s for s in job["steps"] if "python -m review diff" in s.get("run", ""))
    assert diff["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert '--stack "$STACK" --base-ref "$BASE_SHA" --format markdown > diff.md' in diff["run"]
    comment = next(s for s in job["steps"] if "sticky-pull-request-comment@" in s.get("uses", ""))
    assert comment["with"]["path"] == "diff.md"
    assert comment["with"]["header"] == "review-diff-${{ matrix.stack }}"
    assert job["permissions"]["pull-requests"] == "write"
