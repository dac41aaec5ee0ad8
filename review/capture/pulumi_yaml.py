"""YAML read as the Pulumi CLI reads a stack file, so the offline plan sees the values `pulumi preview` sees.

The CLI parses with Go's yaml.v3, then hands each config value to the program as JSON. What follows
from that, checked against the built CLI by tests/e2e/test_config_reading.py:

* booleans are only `true`/`false` (any case form yaml.v3 knows: `True`, `TRUE`); `yes`, `no`, `on`,
  `off`, `y`, `n` stay strings (YAML 1.1's booleans are not);
* integers are Go's literals once every `_` is dropped: `0x1F`, `0o17`, `0b101`, and `017` (octal,
  which yaml.v3 keeps from YAML 1.1); a decimal with a leading zero that is not octal (`09`) is a number;
* a number reaches the program as Go's JSON spells it (`1.0` is 1, `0.00001` stays, `1e21` is `1e+21`);
* a timestamp (`2024-01-01`) becomes Go's `time.Time.String()`, `2024-01-01 00:00:00 +0000 UTC`;
* `null`, `~` and an empty value are null (at the top level, an empty string);
* `.inf` and `.nan` stop the CLI (JSON cannot carry them): they are refused here too;
* a mapping key given twice is an error (`mapping key "x" already defined at line N`), as in yaml.v3;
* a key that is not a string is spelled as Go prints it (`null:` -> `<nil>`, `True:` -> `true`).
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import yaml

NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
STR_TAG = "tag:yaml.org,2002:str"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
MERGE_TAG = "tag:yaml.org,2002:merge"

_NULLS = ("", "~", "null", "Null", "NULL")
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INFINITIES = (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF")
_NANS = (".nan", ".NaN", ".NAN")
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
"""strconv.ParseInt(s, 0, 64)'s syntax (underscores already dropped)."""
_PREFIXED_BASES = {"0x": 16, "0o": 8, "0b": 2}
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
"""yaml.v3's yamlStyleFloat."""
_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})"
    r"(?:(?:[Tt]|[ ])(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{1,2}):(?P<second>[0-9]{1,2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?(?P<zone>Z|[-+][0-9]{2}:[0-9]{2})?)?"
)
"""The forms yaml.v3 parses as timestamps: a date, or a date and a time (`T` or `t`, zone Z or
+hh:mm; with a space, no zone)."""
INT64 = range(-(2**63), 2**63)
UINT64_MAX = 2**64 - 1


class PulumiYamlError(yaml.YAMLError):
    """What the CLI refuses in a stack file, with the line where it is."""

    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.problem = message
        self.problem_mark = mark


def go_json_number(value: float) -> str:
    """A float as Go's encoding/json writes it: positional from 1e-6 up to 1e21, else with an exponent
    (`1e-7`, `1e+21`); the shortest digits that read back as the same float."""
    if value == 0:
        return "0"
    if 1e-6 <= abs(value) < 1e21:
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").removesuffix(".") if "." in text else text
    mantissa, _, exponent = repr(value).partition("e")
    return f"{mantissa.removesuffix('.0')}e{exponent[0]}{exponent[1:].lstrip('0') or '0'}"


def number(text: str) -> int | float | None:
    """A plain scalar as yaml.v3 reads a number, or None if it is not one."""
    plain = text.replace("_", "")
    match = _GO_INT.fullmatch(plain)
    if match is not None:
        sign, digits = match.groups()
        prefix = digits[:2].lower()
        if prefix in _PREFIXED_BASES:
            magnitude = int(digits[2:], _PREFIXED_BASES[prefix])
        else:
            magnitude = int(digits, 8 if digits.startswith("0") else 10)
        value = -magnitude if sign == "-" else magnitude
        if value in INT64 or 0 <= value <= UINT64_MAX:
            return value
        return float(value)
    if _YAML_FLOAT.fullmatch(plain):
        return float(plain) + 0.0  # -0.0 reaches the program as 0
    if plain in _INFINITIES:
        return math.inf if not plain.startswith("-") else -math.inf
    if plain in _NANS:
        return math.nan
    return None


def go_time(match: re.Match[str]) -> str:
    """A yaml.v3 timestamp as Go's `time.Time.String()` prints it."""
    parts = match.groupdict()
    moment = datetime(int(parts["year"]), int(parts["month"]), int(parts["day"]),
                      int(parts["hour"] or 0), int(parts["minute"] or 0), int(parts["second"] or 0))  # fmt: skip
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    fraction = (parts["fraction"] or "").rstrip("0")
    if fraction:
        text += "." + fraction
    zone = parts["zone"]
    if zone is None or zone == "Z":
        return f"{text} +0000 UTC"
    offset = zone.replace(":", "")
    if offset in ("+0000", "-0000"):
        return f"{text} +0000 +0000"
    # A fabricated zone has no name: Go prints the offset in its place.
    return f"{text} {offset} {offset}"


def _plain_tag(value: str) -> str:
    if value in _NULLS:
        return NULL_TAG
    if value in _BOOLS:
        return BOOL_TAG
    if value == "<<":
        return MERGE_TAG
    if value[:1] in "0123456789+-." and number(value) is not None:
        return INT_TAG
    if _timestamp(value) is not None:
        return TIMESTAMP_TAG
    return STR_TAG


def _timestamp(value: str) -> re.Match[str] | None:
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    separator_is_space = match["hour"] is not None and value[match.start("hour") - 1] == " "
    if separator_is_space and match["zone"] is not None:
        return None
    try:
        go_time(match)
        if match["zone"] not in (None, "Z"):
            hours, minutes = match["zone"][1:].split(":")
            timedelta(hours=int(hours), minutes=int(minutes))
    except ValueError:
        return None
    return match


def go_key(key: Any) -> str:
    """A mapping key as Go's `fmt.Sprint` spells a non-string one."""
    if key is None:
        return "<nil>"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        return go_json_number(key)
    return str(key)


class PulumiLoader(yaml.SafeLoader):
    """PyYAML's safe loader with yaml.v3's scalar resolution, duplicate-key check and Pulumi's JSON values."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _plain_tag(value)
        resolved: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return resolved

    def construct_pulumi_number(self, node: yaml.ScalarNode) -> int | float:
        value = number(self.construct_scalar(node).strip())
        if value is None:
            raise PulumiYamlError(f"not a number: {node.value!r}", node.start_mark)
        if math.isinf(value) or math.isnan(value):
            raise PulumiYamlError(
                f"{node.value} is not a value Pulumi can pass to a program (JSON has no infinity or NaN): quote it",
                node.start_mark,
            )
        return value

    def construct_pulumi_timestamp(self, node: yaml.ScalarNode) -> str:
        match = _timestamp(str(self.construct_scalar(node)))
        if match is None:
            raise PulumiYamlError(f"not a timestamp: {node.value!r}", node.start_mark)
        return go_time(match)

    def construct_pulumi_binary(self, node: yaml.ScalarNode) -> str:
        return base64.b64decode(str(self.construct_scalar(node))).decode("utf-8", errors="replace")

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        # yaml.v3 compares keys as written (`1` and `01` differ), before merges; a merged key may be overridden.
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            written = key_node.value
            if written in seen:
                raise PulumiYamlError(
                    f"mapping key {json.dumps(key_node.value)} already defined at line {seen[written] + 1}",
                    key_node.start_mark,
                )
            seen[written] = key_node.start_mark.line
        mapping = super().construct_mapping(node, deep=deep)
        return {go_key(key) if not isinstance(key, str) else key: value for key, value in mapping.items()}


PulumiLoader.add_constructor(INT_TAG, PulumiLoader.construct_pulumi_number)
PulumiLoader.add_constructor(FLOAT_TAG, PulumiLoader.construct_pulumi_number)
PulumiLoader.add_constructor(TIMESTAMP_TAG, PulumiLoader.construct_pulumi_timestamp)
PulumiLoader.add_constructor("tag:yaml.org,2002:binary", PulumiLoader.construct_pulumi_binary)


def load(text: str) -> Any:
    """A YAML document as the Pulumi CLI parses a project or stack file."""
    return yaml.load(text, Loader=PulumiLoader)  # a SafeLoader: builds plain data only


def program_value(value: Any, *, top_level: bool = True) -> Any:
    """A parsed config value as the program receives it: a top-level scalar is a string (`true`, `15`,
    `` for null); numbers are what Go's JSON makes of them; objects and lists keep their types."""
    if isinstance(value, dict):
        return {k: program_value(v, top_level=False) for k, v in value.items()}
    if isinstance(value, list):
        return [program_value(v, top_level=False) for v in value]
    if isinstance(value, bool):
        return ("true" if value else "false") if top_level else value
    if isinstance(value, int):
        if top_level:
            return str(value)
        # A nested number goes through a float64 unless it fits an int64.
        return value if value in INT64 else json.loads(go_json_number(float(value)))
    if isinstance(value, float):
        text = go_json_number(value)
        return text if top_level else json.loads(text)
    if value is None:
        return "" if top_level else None
    return value
