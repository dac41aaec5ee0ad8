"""Every review command's output on dev, prod and shared placement, written to one file per command,
to show that a change of the review tools' code changes none of them:

    python -m tests.review.cli_outputs OUT_DIR            # this checkout
    python -m tests.review.cli_outputs OUT_DIR --ref REF  # the tree of a commit (extracted to a temp dir)
    diff -r BEFORE_DIR AFTER_DIR

Each file holds the command line, its exit status, stdout and stderr. Offline: `plan`, `alerts`,
`env` (from `plan --format json --show-secrets`), `diff` against a fixed commit, `audit` without a
reachable server (its error), and the docs generator's `--check`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
DIFF_BASE = "974fcb8"
"""A commit before crossDatabaseReads and this split: `diff` then has changes to show."""

STACKS: dict[str, list[str]] = {
    "dev": ["--stack", "dev"],
    "prod": ["--stack", "prod"],
    "shared": ["--stack", "dev", "--set", "langflowPlacement=shared"],
    "fdw": ["--stack", "dev", "--set", "crossDatabaseReads=true", "--set", "servers.main.replicas=[{}]"],
    "pooled": ["--stack", "prod", "--set", "servers.main.pooler=pgbouncer"],
}
PLAN_VIEWS: list[list[str]] = [
    [],
    ["--tree"],
    ["--format", "json"],
    ["--format", "markdown"],
    ["--format", "mermaid"],
    ["--format", "pgbouncer"],
    ["--format", "sql"],
    ["--format", "sql", "--server", "main"],
    ["--format", "sql", "--server", "scheduler"],
]


def commands() -> list[tuple[str, list[str]]]:
    """(file name, arguments after `python -m`)."""
    found: list[tuple[str, list[str]]] = []
    for stack, selection in STACKS.items():
        for view in PLAN_VIEWS:
            label = "-".join(part.lstrip("-") for part in view) or "text"
            found.append((f"{stack}-plan-{label}", ["review", "plan", *selection, *view]))
        found.append((f"{stack}-alerts", ["review", "alerts", *selection]))
        for view in ([], ["--format", "json"], ["--format", "sql"], ["--format", "markdown"]):
            label = "-".join(part.lstrip("-") for part in view) or "text"
            found.append((f"{stack}-diff-{label}", ["review", "diff", *selection, "--base-ref", DIFF_BASE, *view]))
        found.append(
            (
                f"{stack}-audit-unreachable",
                ["review", "audit", *selection, "--dsn", "main=postgresql://x@127.0.0.1:9/engarde"],
            )
        )
    found.append(("docs-check", [DOCS, "--check"]))
    return found


DOCS = "review.exports.docs"
"""The docs generator's module (`review.docs` before the review tools were packages by job)."""


def _run(tree: Path, arguments: list[str], stdin: str | None = None) -> str:
    if arguments[0] == DOCS and not (tree / "review" / "exports" / "docs.py").exists():
        arguments = ["review.docs", *arguments[1:]]
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", *arguments], cwd=tree, input=stdin, capture_output=True, text=True, env=environment
    )

    # The temp dir a ref is extracted to, and paths of this machine, are not the output.
    def clean(text: str) -> str:
        return re.sub(r"/tmp/[\w./-]*review-(ref|cli)-\w+", "<tree>", text.replace(str(tree), "<tree>"))

    return (
        f"$ python -m {' '.join(arguments).replace('review.docs', DOCS)}\nexit {result.returncode}\n"
        f"--- stdout\n{clean(result.stdout)}--- stderr\n{clean(result.stderr)}"
    )


def write_outputs(tree: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for name, arguments in commands():
        (out / f"{name}.txt").write_text(_run(tree, arguments))
    for stack, selection in STACKS.items():
        plan = subprocess.run(
            [sys.executable, "-m", "review", "plan", *selection, "--format", "json", "--show-secrets"],
            cwd=tree, capture_output=True, text=True, check=True,
        )  # fmt: skip
        for view in (["--service", "backend"], ["--service", "reporting", "--format", "json"]):
            label = "-".join(part.lstrip("-") for part in view)
            (out / f"{stack}-env-{label}.txt").write_text(_run(tree, ["review", "env", *view], stdin=plan.stdout))
    return len(commands()) + 2 * len(STACKS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--ref", help="run the review tools of this commit's tree instead of this checkout")
    args = parser.parse_args()
    if args.ref is None:
        count = write_outputs(PROJECT_DIR, args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="review-cli-") as directory:
            tree = Path(directory)
            git = ["git", "-C", str(PROJECT_DIR)]
            archive = subprocess.run([*git, "archive", args.ref], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
            # `diff --base-ref` reads the repository's history: the extracted tree needs one.
            subprocess.run(["git", "init", "-q", str(tree)], check=True)
            base = subprocess.run([*git, "rev-parse", DIFF_BASE], capture_output=True, text=True, check=True)
            fetch = ["git", "-C", str(tree), "fetch", "-q", str(PROJECT_DIR), base.stdout.strip()]
            subprocess.run(fetch, check=True)
            count = write_outputs(tree, args.out)
    print(f"{count} outputs in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
