"""The real Pulumi engine, driven through the Automation API, on a local file backend.

The CLI, the language host and the provider plugins come from the toolchain directory
(`make toolchain`, `toolchain/build.py`); nothing is downloaded. Each stack runs a copy of the
program (the working tree's, or a commit's) in a directory of its own, so no `Pulumi.<stack>.yaml`
lands in the checkout, with the checkout's `./venv` as its virtualenv.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from tests.prerequisites import missing_prerequisite
from toolchain.build import EXTERNAL_PLUGINS, external_plugin_hint, toolchain_dir, versions

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "resource_types.py", "components", "topology", "policy")
"""What `pulumi up` needs of a checkout (policy/: the policy pack the engine runs from the same tree)."""
NAMESPACE = "engarde"


def bin_dir() -> Path:
    return toolchain_dir() / "bin"


def require_toolchain(*plugins: str) -> Path:
    """The toolchain's bin/ with the CLI, the language host and `plugins`; fails naming what is missing."""
    directory = bin_dir()
    needed = [
        "pulumi",
        "pulumi-language-python",
        "pulumi-language-python-exec",
        *(f"pulumi-resource-{p}" for p in plugins),
    ]
    missing = [name for name in needed if not (directory / name).is_file()]
    external = [p for p in plugins if p in EXTERNAL_PLUGINS and f"pulumi-resource-{p}" in missing]
    if external:
        pytest.fail(
            f"missing from {directory}: {', '.join(missing)}; {external_plugin_hint(versions(), directory, external)}"
        )
    if missing:
        missing_prerequisite(f"the toolchain ({', '.join(missing)} in {directory})")
    return directory


def program_tree(destination: Path, ref: str | None = None) -> Path:
    """The program as `ref` has it (the working tree when None), in `destination`, with the checkout's venv."""
    destination.mkdir(parents=True, exist_ok=True)
    if ref is None:
        for name in PROGRAM_FILES:
            source = PROJECT_DIR / name
            if source.is_dir():
                shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
            elif source.exists():
                shutil.copyfile(source, destination / name)
    else:
        listed = subprocess.run(["git", "ls-tree", "--name-only", ref], cwd=PROJECT_DIR,
                                capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
        present = [name for name in PROGRAM_FILES if name in listed]
        archive = subprocess.run(["git", "archive", "--format=tar", ref, "--", *present],
                                 cwd=PROJECT_DIR, capture_output=True, check=True).stdout  # fmt: skip
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(destination, filter="data")
    (destination / "venv").symlink_to(PROJECT_DIR / "venv")
    return destination


def encode(value: Any) -> str:
    """A config value as `pulumi config set` stores it: strings as they are, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(repr=False)
class EngineStack:
    """One stack of the program on the real engine (no repr: its env holds the stack's passphrase)."""

    stack: auto.Stack
    program_dir: Path
    env: Mapping[str, str]

    def __repr__(self) -> str:
        return f"EngineStack({self.stack.name})"

    @property
    def name(self) -> str:
        return self.stack.name

    def configure(self, config: Mapping[str, Any], secret_keys: tuple[str, ...] = ()) -> None:
        """Replace the stack's `engarde:` config; `secret_keys` are set as secrets (encrypted in the stack file)."""
        current = self.stack.get_all_config()
        stale = [key for key in current if key.startswith(f"{NAMESPACE}:")]
        if stale:
            self.stack.remove_all_config(stale)
        values = {
            f"{NAMESPACE}:{key}": auto.ConfigValue(
                encode(value), secret=key in secret_keys or key.endswith("AdminPassword")
            )
            for key, value in config.items()
        }
        self.stack.set_all_config(values)

    def use_program(self, ref: str | None) -> None:
        """Point the stack at the program as `ref` has it (None: the working tree), keeping its config and state."""
        stack_file = self.program_dir / f"Pulumi.{self.name}.yaml"
        kept = stack_file.read_bytes() if stack_file.exists() else None
        for child in self.program_dir.iterdir():
            if child.name != stack_file.name:
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        program_tree(self.program_dir, ref)
        if kept is not None:
            stack_file.write_bytes(kept)

    def outputs(self) -> dict[str, Any]:
        """The stack outputs, secrets in clear (the test's own use only: never printed)."""
        return {key: output.value for key, output in self.stack.outputs().items()}


SMALL_PROJECT = """name: engarde
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: venv
"""
"""A project file for a program of a test's own (`main`), beside the stack's modules."""


@contextmanager
def engine_stack(
    name: str, ref: str | None = None, *plugins: str, main: str | None = None, env: Mapping[str, str] | None = None
) -> Iterator[EngineStack]:
    """A fresh stack on a file backend of its own, its program from `ref` (None: the working tree),
    or `main` in place of its `__main__.py` (importing the stack's modules, under a bare project file);
    `env` is added to the CLI's (and so the plugins') environment."""
    tools = require_toolchain(*plugins)
    with tempfile.TemporaryDirectory(prefix=f"e2e-{name}-") as root:
        base = Path(root)
        (base / "state").mkdir()
        env = {
            "PULUMI_HOME": str(base / "home"),
            "PULUMI_BACKEND_URL": f"file://{base / 'state'}",
            # The local backend encrypts the stack's secrets with it; the stack lives only in this directory.
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}",
            **(env or {}),
        }
        program = program_tree(base / "program", ref)
        if main is not None:
            (program / "__main__.py").write_text(main)
            (program / "Pulumi.yaml").write_text(SMALL_PROJECT)
        command = auto.PulumiCommand(root=str(tools.parent), skip_version_check=True)
        workspace = auto.LocalWorkspace(work_dir=str(program), env_vars=env, pulumi_command=command)
        stack = auto.Stack.create(name, workspace)
        yield EngineStack(stack, program, env)


@dataclass(frozen=True)
class EngineStep:
    """One step the engine reported (`ResourcePreEvent`): what it did to which resource."""

    op: str
    urn: str
    type: str
    parent: str | None


@dataclass
class Recorder:
    """The steps of one engine operation, from its events (`on_event=recorder`)."""

    steps: list[EngineStep] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    """URNs whose step finished (`ResOutputsEvent`), in the order they did."""

    def __call__(self, event: auto.EngineEvent) -> None:
        if event.resource_pre_event is not None:
            metadata = event.resource_pre_event.metadata
            state = metadata.new or metadata.old
            parent = state.parent if state is not None and state.parent else None
            self.steps.append(EngineStep(str(metadata.op.value), metadata.urn, metadata.type, parent))
        elif event.res_outputs_event is not None:
            self.done.append(event.res_outputs_event.metadata.urn)

    def urns(self, *ops: str) -> set[str]:
        """URNs of the custom and component resources stepped with one of `ops` (all ops if none)."""
        return {step.urn for step in self.steps if not ops or step.op in ops}

    def changes(self) -> list[EngineStep]:
        """The steps that change something (neither `same` nor a read)."""
        return [step for step in self.steps if step.op not in ("same", "read", "refresh")]
