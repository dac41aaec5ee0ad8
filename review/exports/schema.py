"""`python -m review schema`: the JSON Schema of a stack file (`Pulumi.<stack>.yaml`), from the config's models.

    python -m review schema [--out docs/stack-config.schema.json]

Its `config:` mapping holds the `engarde:` keys as a stack file holds them (an admin password may be the
`{secure: ...}` that `pulumi config set --secret` writes); keys of other namespaces (`docker:host`) pass. Every
key has its description and its default. An editor validates and completes a stack file with it (the YAML
language server: `# yaml-language-server: $schema=docs/stack-config.schema.json` on the file's first line).
The committed docs/stack-config.schema.json is this output (a test fails when the two differ).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema

from review.capture.program import PROJECT_DIR
from topology.config import NAMESPACE, StackSettings

SCHEMA_FILE = PROJECT_DIR / "docs" / "stack-config.schema.json"
OTHER_NAMESPACES = f"^(?!{NAMESPACE}:)[^:]+:"
"""A key of another namespace (`docker:host`): the providers' config, not the program's."""


class _WithoutFieldTitles(GenerateJsonSchema):
    """A key's title would only repeat the key: its description says what it is."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def stack_file_schema() -> dict[str, Any]:
    """The schema of a whole stack file: its `config:` mapping is the `engarde:` keys and other namespaces'."""
    config = StackSettings.model_json_schema(by_alias=True, schema_generator=_WithoutFieldTitles)
    mapping = {
        "description": f"The stack's config: the `{NAMESPACE}:` keys (the program's), and other namespaces' keys.",
        "type": "object",
        "properties": {f"{NAMESPACE}:{key}": value for key, value in config["properties"].items()},
        "patternProperties": {OTHER_NAMESPACES: {}},
        "additionalProperties": False,
    }
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Pulumi.<stack>.yaml of the engarde project",
        "description": "A stack's settings file; written by python -m review schema from topology/config/.",
        "type": "object",
        "properties": {"config": mapping},
        "$defs": config["$defs"],
    }
    described: dict[str, Any] = _one_line_descriptions(schema)
    return described


def _one_line_descriptions(value: Any) -> Any:
    """Descriptions come from docstrings, wrapped at 120 columns: an editor shows each as one paragraph."""
    if isinstance(value, dict):
        return {
            key: " ".join(item.split())
            if key == "description" and isinstance(item, str)
            else _one_line_descriptions(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_one_line_descriptions(item) for item in value]
    return value


def render() -> str:
    return json.dumps(stack_file_schema(), indent=2) + "\n"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `schema` subcommand's arguments."""
    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of a stack file (Pulumi.<stack>.yaml), for editors",
        description="The JSON Schema of a stack file's config, from the program's config models.",
    )
    schema.add_argument("--out", metavar="FILE", help=f"write it to FILE (e.g. {SCHEMA_FILE.relative_to(PROJECT_DIR)})")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """`schema`: the schema on `out`, or in `--out FILE`."""
    if args.out is None:
        out.write(render())
    else:
        Path(args.out).write_text(render())
    return 0
