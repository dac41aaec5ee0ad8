"""`python -m review env`: the stack's `services` output as dotenv files or a variables-API body.

Input: the JSON of `pulumi stack output --json --show-secrets` (or of `python -m review plan --format
json --show-secrets`); both hold `services: {service: {env: {NAME: value}}}`.

Quoting: one file must read the same in python-dotenv, `docker compose --env-file` and a shell
(`set -a; . ./service.env`). A value without `'` and `\\` goes in single quotes, which none of
the three expands (no `$`, no escapes). A value with `'` or `\\` but without `$`, `` ` `` and `"`
goes in double quotes with `\\` doubled: all three turn `\\\\` into `\\` and expand nothing else in
such a value. Any other value is refused naming the service and key, as is a value holding `${`
(python-dotenv expands it even in single quotes), a carriage return (python-dotenv reads it as a
line end) or a NUL byte: no file is better than one that each reader understands differently.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from review.capture.redact import MASK

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOUBLE_QUOTE_UNSAFE = ("$", "`", '"')


class EnvError(ValueError):
    """Input or a value that cannot become a dotenv file (exit 2; never shows a value)."""


def quote_value(service: str, key: str, value: str) -> str:
    """`value` quoted for dotenv, compose and sh alike (see the module docstring)."""
    if "\0" in value:
        raise EnvError(f"{service}: {key}: a NUL byte cannot be in an environment variable")
    if "\r" in value:
        raise EnvError(f"{service}: {key}: holds a carriage return, which python-dotenv reads as a line end")
    if "${" in value:
        raise EnvError(f"{service}: {key}: holds '${{', which python-dotenv expands in any quoting")
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    if not any(c in value for c in _DOUBLE_QUOTE_UNSAFE):
        return '"' + value.replace("\\", "\\\\") + '"'
    raise EnvError(
        f"{service}: {key}: holds ' or \\ together with $, ` or \": no quoting reads the same in "
        "python-dotenv, docker compose and sh"
    )


def render_dotenv(service: str, env: Mapping[str, str]) -> str:
    """One `NAME='value'` line per variable."""
    lines = []
    for key, value in env.items():
        if not ENV_NAME.fullmatch(key):
            raise EnvError(f"{service}: {key!r} is not a valid environment variable name")
        lines.append(f"{key}={quote_value(service, key, value)}\n")
    return "".join(lines)


def _as_text(service: str, key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if MASK in value:
            raise EnvError(
                f"{service}: {key} is masked ({MASK}): produce the input with --show-secrets "
                "(pulumi stack output --json --show-secrets)"
            )
        return value
    raise EnvError(f"{service}: {key} is not a string, number or boolean")


def services_env(document: Any) -> dict[str, dict[str, str]]:
    """`{service: {NAME: value}}` from a stack-output (or plan) JSON document."""
    if not isinstance(document, dict) or "services" not in document:
        raise EnvError("the input has no `services`: give the JSON of `pulumi stack output --json --show-secrets`")
    services = document["services"]
    if services == MASK:
        raise EnvError("`services` is masked: produce the input with `pulumi stack output --json --show-secrets`")
    if not isinstance(services, dict):
        raise EnvError("`services` must be an object of {service: {env: {...}}}")
    result: dict[str, dict[str, str]] = {}
    for service, body in services.items():
        env = body.get("env") if isinstance(body, dict) else None
        if not isinstance(env, dict):
            raise EnvError(f"services.{service} has no `env` object")
        result[str(service)] = {str(key): _as_text(service, key, value) for key, value in env.items()}
    return result


def read_document(text: str, source: str) -> Any:
    """The parsed JSON input (one line naming `source` if it is not JSON)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise EnvError(f"{source}: not JSON (line {error.lineno}): expected `pulumi stack output --json`") from None


def pick(services: dict[str, dict[str, str]], name: str) -> dict[str, str]:
    """One service's env; unknown names list the known ones."""
    if name not in services:
        raise EnvError(f"no service {name!r} in the stack output (services: {', '.join(services)})")
    return services[name]


def render_json_body(env: Mapping[str, str]) -> str:
    """The flat `{NAME: value}` object a platform's variables API takes (Railway, Render, Fly secrets import)."""
    return json.dumps(dict(env), indent=2, ensure_ascii=False) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only (0600), even if the file existed."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, text.encode())
    finally:
        os.close(descriptor)


def write_all(services: dict[str, dict[str, str]], directory: Path, format_: str) -> list[Path]:
    """One file per service (`<service>.env`, or `<service>.json`); every value is checked before any write."""
    suffix = ".json" if format_ == "json" else ".env"
    rendered = {
        name: render_json_body(env) if format_ == "json" else render_dotenv(name, env) for name, env in services.items()
    }
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = []
    for name, text in rendered.items():
        path = directory / f"{name}{suffix}"
        write_private(path, text)
        paths.append(path)
    return paths


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `env` subcommand's arguments."""
    parser = commands.add_parser(
        "env",
        help="the stack's `services` output as dotenv files (or a variables-API JSON body)",
        description="Turn `pulumi stack output --json --show-secrets` into each service's env: "
        "one service on stdout (--service), or one file per service (--out DIR, mode 0600).",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--service", help="print this service's env on stdout")
    target.add_argument("--out", type=Path, metavar="DIR", help="write DIR/<service>.env for every service")
    parser.add_argument(
        "--from", dest="source", metavar="FILE", help="the stack-output JSON (default: stdin; '-' is stdin)"
    )
    parser.add_argument(
        "--format", choices=("dotenv", "json"), default="dotenv", help="dotenv (default) or a flat JSON object"
    )


def run(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    """`env`: returns 0, or raises EnvError (exit 2)."""
    if args.source in (None, "-"):
        text, source = stdin.read(), "stdin"
    else:
        try:
            text, source = Path(args.source).read_text(), args.source
        except OSError as error:
            raise EnvError(f"--from {args.source}: {error.strerror}") from None
    services = services_env(read_document(text, source))
    if args.service is not None:
        env = pick(services, args.service)
        out.write(render_json_body(env) if args.format == "json" else render_dotenv(args.service, env))
        return 0
    files = service_files(read_document(text, source))
    # A service that runs on files alone (a pooler: `env` empty) gets its files, not an empty env file.
    kept = {name: env for name, env in services.items() if env or name not in files}
    for path in [*write_all(kept, args.out, args.format), *write_service_files(files, args.out)]:
        out.write(f"wrote {path} (mode 0600)\n")
    return 0


def service_files(document: Any) -> dict[str, dict[str, str]]:
    """`{service: {file name: text}}` of the services whose output entry carries `files` (a pooler's
    pgbouncer.ini and userlist.txt): `{path in its container: content}`."""
    services = document.get("services") if isinstance(document, dict) else None
    found: dict[str, dict[str, str]] = {}
    for service, body in (services or {}).items():
        files = body.get("files") if isinstance(body, dict) else None
        if files is None:
            continue
        if files == MASK or not isinstance(files, dict) or MASK in files.values():
            show = "pulumi stack output --json --show-secrets"
            raise EnvError(f"services.{service}.files is masked: produce the input with `{show}`")
        found[str(service)] = {PurePosixPath(str(path)).name: str(text) for path, text in files.items()}
    return found


def write_service_files(services: dict[str, dict[str, str]], directory: Path) -> list[Path]:
    """DIR/<service>/<file name> (a pooler's pgbouncer.ini and userlist.txt), mode 0600: a userlist
    holds SCRAM verifiers."""
    paths = []
    for service, files in services.items():
        folder = directory / service
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, text in files.items():
            write_private(folder / name, text)
            paths.append(folder / name)
    return paths
