"""The stack as committed at a git ref: that tree's program, captured under this tree's mocks.

`capture_at_ref` extracts the ref's tree (`git archive`) into a temporary directory and runs its
`__main__.py` in a subprocess whose import path starts with that tree, so the program, `topology/`
and `components/` are the ref's own code. The harness (this file and `review/capture/program.py`) is this
tree's, loaded by path under private module names, so both sides of a diff are captured the same
way and their generated values agree. The subprocess reads the config from a file in the tree
and writes the capture as JSON on stdout (secrets tagged, never printed elsewhere).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

_SECRET_TAG = "__review_secret__"
_REQUEST_FILE = ".review-capture-request.json"
"""In the extracted tree: the config and stack the subprocess captures (admin passwords included:
the file lives and dies with the temporary directory, readable by its owner only)."""


class UnknownRefError(ValueError):
    """A git ref that does not name a commit of the repository."""


class RefCaptureError(RuntimeError):
    """The ref's program could not be captured (its config or code failed)."""


def encode_value(value: Any, secret_type: type) -> Any:
    """A captured value as JSON data: each secret as `{_SECRET_TAG: value}`."""
    if isinstance(value, secret_type):
        return {_SECRET_TAG: encode_value(value.value, secret_type)}  # type: ignore[attr-defined]
    if isinstance(value, dict):
        return {key: encode_value(item, secret_type) for key, item in value.items()}
    if isinstance(value, list):
        return [encode_value(item, secret_type) for item in value]
    return value


def encode_capture(capture: Any, secret_type: type) -> dict[str, Any]:
    """A `Capture` (of whichever copy of `review.capture.program` made it) as JSON data: every field of each
    resource, its inputs and outputs with secrets tagged."""
    return {
        "stack": capture.stack,
        "outputs": encode_value(capture.outputs, secret_type),
        "resources": [
            {
                field.name: encode_value(getattr(resource, field.name), secret_type)
                for field in dataclasses.fields(resource)
            }
            for resource in capture.resources
        ],
    }


def decode_capture(data: Mapping[str, Any]) -> Any:
    """The `Capture` that `encode_capture` wrote."""
    from review.capture.program import Capture, Resource, Secret

    def decode(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {_SECRET_TAG}:
                return Secret(decode(value[_SECRET_TAG]))
            return {key: decode(item) for key, item in value.items()}
        if isinstance(value, list):
            return [decode(item) for item in value]
        return value

    names = {field.name for field in dataclasses.fields(Resource)}
    resources = [
        Resource(**{key: decode(value) for key, value in item.items() if key in names}) for item in data["resources"]
    ]
    return Capture(stack=str(data["stack"]), resources=resources, outputs=decode(data["outputs"]))


def resolve_ref(repository: Path, ref: str) -> str:
    """The commit `ref` names in the repository at `repository`."""
    resolved = subprocess.run(
        ["git", "-C", str(repository), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if resolved.returncode != 0:
        raise UnknownRefError(f"--base-ref {ref}: not a commit of the repository at {repository}")
    return resolved.stdout.strip()


def extract_commit(repository: Path, commit: str, destination: Path) -> None:
    """The tree of `commit` into `destination`."""
    archive = subprocess.run(["git", "-C", str(repository), "archive", commit], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter=_safe_member)


def _safe_member(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """`tarfile.data_filter`, skipping what it refuses (a committed link to an absolute path)."""
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None


def start_capture(
    tree: Path, config: Mapping[str, Any], stack: str, secret_keys: tuple[str, ...]
) -> subprocess.Popen[str]:
    """Start running `tree`'s program in a subprocess under this tree's mocks (see `finish_capture`)."""
    request = tree / _REQUEST_FILE
    request.write_text(json.dumps({"config": dict(config), "stack": stack, "secret_keys": secret_keys}))
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), str(tree)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tree,
        env=environment,
    )


def finish_capture(process: subprocess.Popen[str]) -> Any:
    """The `Capture` the started subprocess registered."""
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        raise RefCaptureError(lines[-1] if lines else f"exit status {process.returncode}")
    return decode_capture(json.loads(stdout))


@contextlib.contextmanager
def capture_at_ref(repository: Path, commit: str, config_of: Any, stack: str) -> Iterator[subprocess.Popen[str]]:
    """The capture of the stack at `commit`, started: `config_of(tree)` gives (config, secret keys).

    The caller captures the other side meanwhile and calls `finish_capture` inside the block.
    """
    with tempfile.TemporaryDirectory(prefix="review-ref-") as directory:
        tree = Path(directory)
        extract_commit(repository, commit, tree)
        config, secret_keys = config_of(tree)
        process = start_capture(tree, config, stack, secret_keys)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


def _load_by_path(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _subprocess_main(tree: Path) -> int:
    """Capture `tree`'s program: the request on stdin, the capture on stdout."""
    # The ref's own packages (`topology`, `components`, its `review`) shadow this tree's.
    here = Path(__file__).resolve()
    this_tree = {here.parent, here.parents[1], here.parents[2]}
    sys.path[:] = [str(tree), *(entry for entry in sys.path if Path(entry or ".").resolve() not in this_tree)]
    capture_module = _load_by_path("_review_harness_capture", here.parent / "program.py")
    request = json.loads((tree / _REQUEST_FILE).read_text())
    capture = capture_module.run_program(
        request["config"],
        request["stack"],
        secret_keys=tuple(request["secret_keys"]),
        program=tree / "__main__.py",
    )
    json.dump(encode_capture(capture, capture_module.Secret), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_subprocess_main(Path(sys.argv[1])))
