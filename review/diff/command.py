"""`python -m review diff`: the stack at a git ref against the working tree, as `pulumi up` would change it.

    python -m review diff --stack dev --base-ref origin/main [--set KEY=VALUE ...] [--replace URN ...]
                          [--format text|markdown|json|sql] [--server NAME] [--verbose]

The old side is the ref's tree (its program, its Pulumi.<stack>.yaml) captured in a subprocess;
the new side is the working tree with `--set`. `diff_configs` is the same comparison for two
configs of this tree, in-process (what the tests use).
"""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TextIO

from resource_types import STACK
from review.capture.at_ref import RefCaptureError, UnknownRefError, capture_at_ref, finish_capture, resolve_ref
from review.capture.config_files import ConfigFileError, StackConfigValues
from review.capture.plan import Plan
from review.capture.program import Capture, run_program
from review.diff.compute import diff_captures
from review.diff.sql import ProviderLifecycle
from review.diff.views import FORMATS, DiffReport, build_report
from review.providers import SecretStyle
from topology import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class DiffUsageError(ValueError):
    """A diff command line that cannot run (exit 2, one line)."""


def add_parser(commands: Any) -> None:
    """The `diff` subcommand's arguments."""
    diff = commands.add_parser(
        "diff",
        help="what `pulumi up` changes between a git ref and the working tree (offline)",
        description="The steps `pulumi up` runs to go from the stack at a git ref to the working tree, "
        "in engine order, with the SQL each one runs. Nothing is deployed.",
    )
    diff.add_argument("--stack", required=True, help="stack name: reads Pulumi.<STACK>.yaml on both sides")
    diff.add_argument("--base-ref", required=True, help="git ref of the deployed side (commit, branch, tag)")
    diff.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                      help="override a config path of the working tree's side, as for plan")  # fmt: skip
    diff.add_argument("--replace", dest="replace", action="append", default=[], metavar="URN",
                      help="replace this resource even if unchanged, as `pulumi up --replace`")  # fmt: skip
    diff.add_argument("--format", choices=sorted(FORMATS), default="text", help="view (default: text)")
    diff.add_argument("--server", help="only this server's SQL")
    diff.add_argument("--verbose", action="store_true",
                      help="also list every stack-output path that changes (text, markdown, json)")  # fmt: skip


def capture_config(config: StackConfigValues, stack: str, replace: Collection[str] = ()) -> Capture:
    return run_program(config.values, stack, secret_keys=tuple(sorted(config.secret_keys)), replaced=tuple(replace))


def capture_urn(urn: str) -> str:
    """An engine URN (`pulumi stack --show-urns`) in the form the SDK's mocks give it.

    The engine qualifies a type with every ancestor's type (`A$B$C`); the mocks with the parent's
    alone (`B$C`), and with `pulumi:pulumi:Stack` for a top-level resource.
    """
    parts = urn.split("::", 3)
    if len(parts) != 4:
        raise DiffUsageError(f"--replace {urn}: not a URN (urn:pulumi:STACK::PROJECT::TYPE::NAME)")
    chain = parts[2].split("$")
    qualified = chain[-2:] if len(chain) >= 2 else [STACK, *chain]
    return "::".join([parts[0], parts[1], "$".join(qualified), parts[3]])


def check_replace_stack(urn: str, stack: str) -> None:
    """Refuse a `--replace` URN of another stack, naming it as given."""
    urn_stack = urn.removeprefix("urn:pulumi:").split("::", 1)[0]
    if urn.startswith("urn:pulumi:") and urn_stack != stack:
        raise DiffUsageError(f"--replace {urn}: a URN of stack {urn_stack!r}, not of --stack {stack}")


def check_replace_targets(capture: Capture, replace: Collection[str]) -> None:
    custom = {resource.urn for resource in capture.resources if resource.custom}
    for urn in replace:
        if urn not in custom:
            raise DiffUsageError(f"--replace {urn}: no such resource in the working tree's stack")


def diff_configs(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    stack: str,
    replace: Collection[str] = (),
    secret_keys: tuple[str, ...] = (),
    show_secrets: bool = False,
    base: str = "the old config",
) -> DiffReport:
    """What `pulumi up` does to a stack deployed with config `old` when run with config `new`."""
    replace = tuple(capture_urn(urn) for urn in replace)
    old_capture = run_program(old, stack, secret_keys=secret_keys)
    new_capture = run_program(new, stack, secret_keys=secret_keys, replaced=replace)
    return report_of(old_capture, new_capture, stack, replace, show_secrets, base)


def report_of(
    old: Capture, new: Capture, stack: str, replace: Collection[str], show_secrets: bool, base: str
) -> DiffReport:
    lifecycle = ProviderLifecycle(SecretStyle.VALUES if show_secrets else SecretStyle.VARIABLES)
    check_replace_targets(new, replace)
    return build_report(stack, base, diff_captures(Plan(old), Plan(new), lifecycle, replace), lifecycle)


def _repository(project_dir: Path) -> Path:
    found = subprocess.run(
        ["git", "-C", str(project_dir), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        raise DiffUsageError(f"--base-ref needs a git repository; {project_dir} is not in one")
    return Path(found.stdout.strip())


def run(args: argparse.Namespace, out: TextIO, err: TextIO, project_dir: Path, validated_config: Any) -> int:
    """The `diff` command; `validated_config(stack, assignments, dir)` is the plan command's config loader."""
    new_config, topology = validated_config(args.stack, args.assignments, project_dir)
    repository = _repository(project_dir)
    relative = project_dir.resolve().relative_to(repository.resolve())

    def old_config(tree: Path) -> tuple[dict[str, Any], tuple[str, ...]]:
        try:
            config, _ = validated_config(args.stack, [], tree / relative)
        except (ConfigError, ConfigFileError) as error:
            raise DiffUsageError(f"--base-ref {args.base_ref}: {error}") from None
        return config.values, tuple(sorted(config.secret_keys))

    if args.server is not None and args.server not in topology.servers:
        known = ", ".join(topology.servers)
        raise DiffUsageError(f"--server {args.server}: no such server in the working tree's stack (servers: {known})")
    for urn in args.replace:
        check_replace_stack(urn, args.stack)
    replace = tuple(capture_urn(urn) for urn in args.replace)
    try:
        commit = resolve_ref(repository, args.base_ref)
    except UnknownRefError as error:
        raise DiffUsageError(str(error)) from None
    for note in new_config.notes:
        print(note, file=err)
    # The ref's program runs in a subprocess while this tree's runs here.
    with capture_at_ref(repository, commit, old_config, args.stack) as old_run:
        new_capture = capture_config(new_config, args.stack, replace)
        check_replace_targets(new_capture, replace)
        try:
            old_capture = finish_capture(old_run)
        except RefCaptureError as failure:
            message = f"--base-ref {args.base_ref}: the stack at that ref does not run: {failure}"
            raise DiffUsageError(message) from None
    report = report_of(old_capture, new_capture, args.stack, replace, False, f"git ref {args.base_ref}")
    out.write(FORMATS[args.format](report, args.server, args.verbose))
    for refusal in report.diff.errors:
        print(f"error: {refusal}", file=err)
    return EXIT_FAILED if report.diff.errors else EXIT_OK
