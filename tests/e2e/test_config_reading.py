"""The offline reader (review/capture/config_files.py) against the Pulumi CLI: the same stack file gives
the program the same config, value for value, or both refuse it.

A program of the test's own records the config the engine hands it (`pulumi preview`); the offline
reader reads the same `Pulumi.<stack>.yaml`. Needs only the CLI and the Python language host.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from review.capture import config_files
from review.capture.config_files import ConfigFileError
from review.capture.program import encode_config
from tests.e2e.engine import EngineStack, engine_stack

STACK = "reading"
VALUES = (
    "yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF",
    "true", "True", "TRUE", "false", "False", "FALSE",
    "0o17", "017", "-017", "09", "0x1F", "0b101", "1_000", "0x_1F", "+12", "12345678901234567890",
    "1.0", "1.50", ".5", "1e20", "1e21", "0.00001", "1e-7", "-0.0", "1:30",
    "~", "null", "Null", "NULL", '""', "''", "'yes'", "!!str 017",
    "2024-01-01", "2024-1-2", "2024-01-01T10:00:00Z", "2024-01-01t10:00:00.50Z", "2024-01-01 10:00:00",
    "2024-13-01", "abc", "0o8",
)  # fmt: skip
"""Plain YAML scalars (as written in the file) whose reading differs between YAML 1.1, YAML 1.2 and yaml.v3."""
KEYS = ("yes", "no", "on", "True", "null", "~", "1", "017", "0x1F", "1.5", "2024-01-01")
"""Mapping keys that are not plain strings to some reader."""
RECORDER = """
import json
import pulumi

json.dump(dict(pulumi.runtime.config.CONFIG.get()), open({path!r}, "w"))
"""


def stack_file(values: tuple[str, ...] = VALUES, keys: tuple[str, ...] = KEYS) -> str:
    """Each value at the top level (a key of its own) and nested (in an object, and in a list)."""
    lines = ["config:"]
    lines += [f"  engarde:top{i}: {value}" for i, value in enumerate(values)]
    lines += ["  engarde:nested:"] + [f"    v{i}: {value}" for i, value in enumerate(values)]
    lines += ["  engarde:listed:"] + [f"    - {value}" for value in values]
    lines += ["  engarde:keys:"] + [f"    {key}: k{i}" for i, key in enumerate(keys)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EngineStack, Path]]:
    recorded = tmp_path_factory.mktemp("config-reading") / "config.json"
    with engine_stack(STACK, None, main=RECORDER.format(path=str(recorded))) as stack:
        yield stack, recorded


def _engine_config(engine: tuple[EngineStack, Path], text: str) -> dict[str, str]:
    stack, recorded = engine
    (stack.program_dir / f"Pulumi.{STACK}.yaml").write_text(text)
    recorded.unlink(missing_ok=True)
    stack.stack.preview()
    config: dict[str, str] = json.loads(recorded.read_text())
    return {key: value for key, value in config.items() if key.startswith("engarde:")}


def _offline_config(engine: tuple[EngineStack, Path]) -> dict[str, str]:
    stack, _ = engine
    return encode_config(config_files.stack_values(STACK, stack.program_dir).values)


def _decoded(config: dict[str, str]) -> dict[str, object]:
    """Objects and lists compared parsed (key order and spacing of their JSON do not matter)."""
    return {key: json.loads(value) if value.startswith(("[", "{")) else value for key, value in config.items()}


def test_every_value_reaches_the_program_as_the_offline_reader_reads_it(engine: tuple[EngineStack, Path]) -> None:
    engine_view = _decoded(_engine_config(engine, stack_file()))
    offline_view = _decoded(_offline_config(engine))
    assert offline_view == engine_view
    # The cases the old reader (PyYAML, YAML 1.1) got wrong, spelled out.
    assert engine_view["engarde:top0"] == "yes"
    assert engine_view["engarde:top17"] == "15"  # 017: yaml.v3 keeps YAML 1.1's octal
    assert engine_view["engarde:top43"] == "2024-01-01 00:00:00 +0000 UTC"


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("config:\n  engarde:protect: true\n  engarde:protect: false\n", 'mapping key "engarde:protect" already'),
        ("config:\n  engarde:servers:\n    main: {}\n    main: {}\n", 'mapping key "main" already defined'),
        ("config:\n  engarde:top: .inf\n", "Inf"),
        ("config:\n  engarde:servers:\n    main:\n      hostPort: .nan\n", "NaN"),
    ],
    ids=["duplicate top-level key", "duplicate nested key", "infinity", "nan"],
)
def test_a_file_the_cli_refuses_is_refused_offline(engine: tuple[EngineStack, Path], text: str, refusal: str) -> None:
    with pytest.raises(auto.CommandError, match=refusal):
        _engine_config(engine, text)
    with pytest.raises(ConfigFileError, match=r"Pulumi\.reading\.yaml \(line \d+\): "):
        _offline_config(engine)
