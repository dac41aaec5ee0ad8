"""Stack config as `pulumi` would assemble it, read offline from the project's YAML files.

Order: `Pulumi.yaml` defaults (its `config:` block), then `Pulumi.<stack>.yaml` (its `config:` block),
then each `--set KEY=VALUE` (a config path, applied like `pulumi config set --path`). Only keys of
the `engarde:` namespace reach the program; they keep their parsed types (objects, booleans,
numbers). `secure:` values cannot be decrypted without the stack's secrets provider: they become
marked placeholders, so the plan still renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from review.capture import pulumi_yaml
from review.capture.program import NAMESPACE, PROJECT_DIR
from topology.config import ConfigOrigin

ADMIN_PASSWORD_SUFFIX = "AdminPassword"
"""Config keys `<server>AdminPassword` hold the admin password of an external server (secret)."""


class ConfigFileError(ValueError):
    """A config file or a `--set` argument that cannot be used (one line, for the command's stderr)."""


@dataclass
class StackConfigValues:
    """The `engarde:` config of a stack, namespace stripped, ready for `run_program`."""

    values: dict[str, Any]
    secret_keys: set[str] = field(default_factory=set)
    """Keys whose value is a secret (given `secure:`, or an admin password)."""
    notes: list[str] = field(default_factory=list)
    """One line each, for stderr: placeholders the plan had to use."""
    other_keys: set[str] = field(default_factory=set)
    """Keys of the other namespaces (`docker:host`), namespace included: the program sees them too."""

    def origin(self) -> ConfigOrigin:
        """What the program's validation knows beyond the values: the secret keys, the other namespaces."""
        return ConfigOrigin(secret_keys=frozenset(self.secret_keys), other_keys=frozenset(self.other_keys))


def secure_placeholder(key: str) -> str:
    """What the plan uses for a secret it cannot decrypt offline."""
    return f"[secure value: {NAMESPACE}:{key}]"


def missing_secret_placeholder(key: str) -> str:
    """What the plan uses for a required secret that is not set."""
    return f"[secret not set: {NAMESPACE}:{key}]"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = pulumi_yaml.load(path.read_text())
    except pulumi_yaml.PulumiYamlError as error:
        mark = error.problem_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigFileError(f"{path.name}{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigFileError(f"{path.name}: not valid YAML{where}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigFileError(f"{path.name}: expected a mapping at the top level")
    return document


def _own_key(key: str) -> str | None:
    """`engarde:servers` -> `servers`; a key without namespace is the project's; other namespaces -> None."""
    namespace, colon, name = key.partition(":")
    if not colon:
        return key
    return name if namespace == NAMESPACE else None


def project_defaults(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The `default:` of each key declared in Pulumi.yaml's `config:` block."""
    block = _read_yaml(project_dir / "Pulumi.yaml").get("config") or {}
    defaults: dict[str, Any] = {}
    for key, declaration in block.items():
        name = _own_key(str(key))
        if name is None:
            continue
        if isinstance(declaration, dict):
            if "default" in declaration:
                defaults[name] = declaration["default"]
        else:
            # Short form `key: value` declares the default itself.
            defaults[name] = declaration
    return defaults


def stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    """Pulumi.<stack>.yaml, honouring the project's `stackConfigDir`."""
    project = _read_yaml(project_dir / "Pulumi.yaml")
    directory = project_dir / str(project.get("stackConfigDir") or ".")
    return directory / f"Pulumi.{stack}.yaml"


def _decrypt_offline(value: Any, key: str, secret_keys: set[str], top_key: str) -> Any:
    """Replace `{secure: ...}` (at any depth) with a placeholder naming the key path."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            secret_keys.add(top_key)
            return secure_placeholder(key)
        return {k: _decrypt_offline(v, f"{key}.{k}", secret_keys, top_key) for k, v in value.items()}
    if isinstance(value, list):
        return [_decrypt_offline(v, f"{key}[{i}]", secret_keys, top_key) for i, v in enumerate(value)]
    return value


def stack_values(stack: str, project_dir: Path = PROJECT_DIR) -> StackConfigValues:
    """Project defaults overlaid with Pulumi.<stack>.yaml."""
    path = stack_file(stack, project_dir)
    if not path.is_file():
        known = sorted(p.name.split(".")[1] for p in path.parent.glob("Pulumi.*.yaml"))
        raise ConfigFileError(f"{path.name} not found: no stack {stack!r} (stacks: {', '.join(known) or 'none'})")
    document = _read_yaml(path)
    config = StackConfigValues(values=project_defaults(project_dir))
    declared = _read_yaml(project_dir / "Pulumi.yaml").get("config") or {}
    config.other_keys = {str(key) for key in [*declared, *(document.get("config") or {})] if _own_key(str(key)) is None}
    for key, value in (document.get("config") or {}).items():
        name = _own_key(str(key))
        if name is None:
            continue  # Other namespaces (docker:host) configure providers, not the program (which checks their names).
        config.values[name] = pulumi_yaml.program_value(_decrypt_offline(value, name, config.secret_keys, name))
        if name in config.secret_keys:
            config.notes.append(
                f"note: {NAMESPACE}:{name} is encrypted in {path.name}; the plan uses a placeholder for it"
            )
    if document.get("environment"):
        config.notes.append(f"note: {path.name} imports ESC environments; their values are not read offline")
    return config


# --set KEY=VALUE ------------------------------------------------------------------------------

_SEGMENT = re.compile(r'\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\.?([^.\[\]]+)')


def parse_path(path: str) -> list[str | int]:
    """`servers.main.hostPort` -> ["servers", "main", "hostPort"]; `a.reads[0]` -> [..., "reads", 0];
    `a["b.c"]` -> ["a", "b.c"] (the syntax of `pulumi config set --path`)."""
    segments: list[str | int] = []
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None or (match.group(3) is not None and position > 0 and path[position] != "."):
            raise ConfigFileError(f"--set {path}: not a config path (e.g. servers.main.hostPort, a.list[0])")
        index, quoted, name = match.groups()
        if index is not None:
            segments.append(int(index))
        elif quoted is not None:
            segments.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            segments.append(name)
        position = match.end()
    if not segments or not isinstance(segments[0], str):
        raise ConfigFileError(f"--set {path}: a config path starts with a key name")
    return segments


_INTEGER = re.compile(r"[-+]?[0-9]+")
_INT64 = range(-(2**63), 2**63)


def parse_scalar(text: str) -> Any:
    """A nested value typed as `pulumi config set --path` types it: exactly `true`/`false` are booleans,
    a decimal integer without a leading zero is a number, anything else is the string as typed
    (`1.5`, `True`, `null`, `'quoted'` and `0755` included)."""
    if text == "true":
        return True
    if text == "false":
        return False
    if len(text) > 1 and text[0] == "0":
        return text
    if _INTEGER.fullmatch(text) and int(text) in _INT64:
        return int(text)
    return text


def split_assignment(argument: str) -> tuple[str, str]:
    """`KEY=VALUE` -> (key without namespace, raw value)."""
    key, equals, value = argument.partition("=")
    if not equals or not key:
        raise ConfigFileError(f"--set {argument}: expected KEY=VALUE (e.g. servers.main.hostPort=55432)")
    namespace, colon, rest = key.partition(":")
    if colon and "." not in namespace and "[" not in namespace:
        if namespace != NAMESPACE:
            raise ConfigFileError(f"--set {argument}: only {NAMESPACE}: keys reach the program")
        key = rest
    return key, value


def apply_set(config: StackConfigValues, argument: str) -> None:
    """Apply one `--set KEY=VALUE`, creating objects and lists along the path as needed."""
    key, raw = split_assignment(argument)
    path = parse_path(key)
    top = path[0]
    assert isinstance(top, str)
    # Like `pulumi config set --path`: a top-level key is always a string (the program parses it);
    # only values inside an object or list get a type. So a password stays as typed, even `12345`.
    value: Any = raw if len(path) == 1 else parse_scalar(raw)
    if top.endswith(ADMIN_PASSWORD_SUFFIX):
        config.secret_keys.add(top)
    container: Any = config.values
    for position in range(len(path) - 1):
        container = _step_into(container, path[position], path[position + 1], key, path[:position])
    _assign(container, path[-1], value, key, path[:-1])


def _describe(path: list[str | int]) -> str:
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if text else segment)
    return text


def _step_into(container: Any, segment: str | int, following: str | int, key: str, where: list[str | int]) -> Any:
    fresh: Any = [] if isinstance(following, int) else {}
    if isinstance(segment, int):
        if not isinstance(container, list):
            raise ConfigFileError(f"--set {key}: {_describe(where)} is not a list")
        _check_index(container, segment, key, where)
        if segment == len(container):
            container.append(fresh)
        return container[segment]
    if not isinstance(container, dict):
        raise ConfigFileError(f"--set {key}: {_describe(where)} is not an object")
    return container.setdefault(segment, fresh)


def _check_index(container: list[Any], index: int, key: str, where: list[str | int]) -> None:
    """An index may replace an item or append one, as `pulumi config set --path` allows; no gaps."""
    if index > len(container):
        raise ConfigFileError(
            f"--set {key}: index {index} is past the end of {_describe(where)} ({len(container)} items): "
            f"set {_describe([*where, len(container)])} first"
        )


def _assign(container: Any, segment: str | int, value: Any, key: str, where: list[str | int]) -> None:
    if isinstance(segment, int):
        if not isinstance(container, list):
            raise ConfigFileError(f"--set {key}: {_describe(where)} is not a list")
        _check_index(container, segment, key, where)
        if segment == len(container):
            container.append(value)
        container[segment] = value
    else:
        if not isinstance(container, dict):
            raise ConfigFileError(f"--set {key}: {_describe(where)} is not an object")
        container[segment] = value


def load(stack: str, assignments: list[str], project_dir: Path = PROJECT_DIR) -> StackConfigValues:
    """The stack's config: project defaults, the stack file, then each `--set` in order."""
    config = stack_values(stack, project_dir)
    for argument in assignments:
        apply_set(config, argument)
    return config


def fill_missing_admin_password(config: StackConfigValues, key: str) -> bool:
    """Use a placeholder for an admin password the stack needs but does not set; False if it is set.

    `pulumi up` needs the real value: the note says so, and names the command that sets it.
    """
    if ":" in key or not key.endswith(ADMIN_PASSWORD_SUFFIX) or key in config.values:
        return False
    config.values[key] = missing_secret_placeholder(key)
    config.secret_keys.add(key)
    config.notes.append(
        f"note: {NAMESPACE}:{key} is not set; the plan uses a placeholder, `pulumi up` requires it: "
        f"pulumi config set --secret {NAMESPACE}:{key} <password>"
    )
    return True
