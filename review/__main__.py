"""`python -m review plan`: the stack rendered offline, for PR review and for newcomers;
`python -m review audit`: live servers compared with what the stack declares.

    python -m review plan --stack dev [--set KEY=VALUE ...] [--format text|markdown|json|mermaid|sql|pgbouncer]
                          [--server NAME] [--show-secrets] [--secrets-from OUTPUTS.json] [--tree]
    python -m review diff --stack dev --base-ref REF [--set ...] [--replace URN ...]
                          [--format text|markdown|json|sql] [--server NAME]
    python -m review audit --stack prod [--set ...] --dsn main=postgresql://... --dsn flowdb=...
                           --dsn scheduler=mysql://... [--format text|json]
    python -m review env (--service NAME | --out DIR) [--from FILE] [--format dotenv|json]

Audit exit status: 0 no drift; 1 drift (one line per finding); 2 usage or connection error.
Diff exit status: 0 rendered; 1 `pulumi up` would fail (a protected resource deleted or replaced);
2 config, ref or command-line error.

    python -m review alerts --stack dev [--set ...]   the Prometheus alert rules file, offline
    python -m review schema [--out FILE]             the JSON Schema of a stack file, for editors

Runs the real program (`__main__.py`) under Pulumi's mocks with the stack's config, read from
Pulumi.yaml, Pulumi.<stack>.yaml and `--set`. Exit status: 0 rendered; 2 the config (or the
command line) is wrong, with one line saying which key and what is allowed; 1 anything else
(one line; set REVIEW_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from review.audit.checks import AuditConnectionError, audit_servers, check_dsn_database, render_text_report
from review.capture import config_files
from review.capture.config_files import ConfigFileError, StackConfigValues
from review.capture.plan import Plan
from review.capture.program import PROJECT_DIR, Capture, run_program
from review.diff import command as diff_command
from review.exports import env as env_command
from review.exports import schema as schema_command
from review.exports.alerts import render_alerts
from review.exports.env import write_private
from review.views.budget import render_pgbouncer
from review.views.plan import render_json, render_markdown, render_mermaid, render_text
from review.views.sql import MissingSecretError, render_sql, secrets_from_outputs
from topology import ConfigError, Topology, load_topology
from topology.config import config_notices

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

FORMATS: dict[str, Callable[[Plan, bool, str | None], str]] = {
    "text": lambda plan, show, _server: render_text(plan, show),
    "markdown": lambda plan, show, _server: render_markdown(plan, show),
    "json": lambda plan, show, _server: render_json(plan, show),
    "mermaid": lambda plan, _show, _server: render_mermaid(plan),
    "sql": lambda plan, _show, server: render_sql(plan, server),
    "pgbouncer": lambda plan, _show, server: render_pgbouncer(plan, server),
}


class UsageError(ValueError):
    """A command line that cannot be rendered (exit 2, one line)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m review", description="Review tools for the EnGarde stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser(
        "plan",
        help="render the stack offline (program under Pulumi mocks)",
        description="Render what `pulumi up` would create for a stack, offline: nothing is deployed.",
    )
    plan.add_argument("--stack", required=True, help="stack name: reads Pulumi.<STACK>.yaml")
    plan.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config path, like `pulumi config set --path` (e.g. servers.main.hostPort=55432)",
    )
    plan.add_argument("--format", choices=sorted(FORMATS), default="text", help="view (default: text)")
    plan.add_argument("--server", help="with --format sql: only this server's SQL; with pgbouncer: its pooler")
    plan.add_argument("--show-secrets", action="store_true", help="show passwords instead of [secret]")
    plan.add_argument("--tree", action="store_true", help="with --format text: add the component tree")
    plan.add_argument(
        "--secrets-from",
        metavar="FILE",
        help="with --format sql: write the passwords in, read from `pulumi stack output --json --show-secrets`",
    )
    plan.add_argument(
        "--outputs",
        metavar="FILE",
        help="the stack's outputs as deployed (`pulumi stack output --json`): checks a PostgreSQL major change"
        " against what the data volumes hold, as `pulumi preview` does",
    )
    plan.add_argument(
        "--out",
        metavar="FILE",
        help="write the view to FILE (created readable by its owner only: mode 0600) instead of stdout",
    )
    audit = commands.add_parser(
        "audit",
        help="compare live servers with what the stack declares",
        description="Read each server's catalog through an admin DSN and report drift, one line per finding.",
    )
    audit.add_argument("--stack", required=True, help="stack name: reads Pulumi.<STACK>.yaml")
    audit.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config path, as for plan")  # fmt: skip
    audit.add_argument("--dsn", dest="dsns", action="append", default=[], metavar="SERVER=URL",
                       help="admin connection of a server to audit: main=postgresql://..., scheduler=mysql://...;"
                       " servers without one are skipped (and said so)")  # fmt: skip
    audit.add_argument("--format", choices=("text", "json"), default="text", help="report (default: text)")
    env_command.add_parser(commands)
    alerts = commands.add_parser(
        "alerts",
        help="print the stack's Prometheus alert rules",
        description="Render the alert rules file from the stack's topology, offline.",
    )
    alerts.add_argument("--stack", required=True, help="stack name: reads Pulumi.<STACK>.yaml")
    alerts.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config path, as for plan")  # fmt: skip
    diff_command.add_parser(commands)
    schema_command.add_parser(commands)
    return parser


def validated_config(
    stack: str,
    assignments: list[str],
    project_dir: Path = PROJECT_DIR,
    deployed_outputs: Mapping[str, Any] | None = None,
) -> tuple[StackConfigValues, Topology]:
    """The stack's config, checked by the program's own validation.

    Admin passwords an external server needs and the config does not set get a placeholder
    (with a note): Pulumi.prod.yaml holds no secrets, and its plan must still render.
    """
    config = config_files.load(stack, assignments, project_dir)
    while True:  # ends: each pass adds a key that was missing, or raises
        try:
            return config, load_topology(config.values, stack, config.origin(), deployed_outputs)
        except ConfigError as error:
            if not config_files.fill_missing_admin_password(config, error.key):
                raise


def capture_stack(config: StackConfigValues, stack: str, deployed_outputs: Mapping[str, Any] | None = None) -> Capture:
    """The program run under mocks with this config (and the stack's deployed outputs, when given)."""
    secret_keys = tuple(sorted(config.secret_keys))
    if deployed_outputs is None:
        return run_program(config.values, stack, secret_keys=secret_keys)
    return run_program(config.values, stack, secret_keys=secret_keys, deployed_outputs=deployed_outputs)


def _deployed_outputs(path: str | None) -> dict[str, Any] | None:
    """`--outputs FILE`: a JSON object, as `pulumi stack output --json` prints it."""
    if path is None:
        return None
    try:
        outputs = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"--outputs {path}: not a JSON file of stack outputs ({error.__class__.__name__})") from None
    if not isinstance(outputs, dict):
        raise UsageError(f"--outputs {path}: must hold a JSON object (`pulumi stack output --json`)")
    return outputs


def _check_pooler(topology: Topology, server: str | None) -> None:
    pooled = list(topology.poolers)
    if not pooled:
        raise UsageError("--format pgbouncer: no server has a pooler (set servers.<name>.pooler=pgbouncer)")
    if server is None and len(pooled) > 1:
        raise UsageError(f"--format pgbouncer needs --server (poolers on: {', '.join(pooled)})")
    if server is not None and server not in pooled:
        raise UsageError(f"--server {server}: no pooler on that server (poolers on: {', '.join(pooled)})")


def _check_server(topology: Topology, server: str | None, format_: str) -> None:
    if format_ == "pgbouncer":
        _check_pooler(topology, server)
        return
    if server is None:
        return
    if format_ != "sql":
        raise UsageError("--server applies to --format sql and pgbouncer only")
    known = list(topology.servers)
    if server not in known:
        raise UsageError(f"--server {server}: no such server in this stack (servers: {', '.join(known)})")


def plan(args: argparse.Namespace, out: TextIO, err: TextIO, project_dir: Path = PROJECT_DIR) -> int:
    _check_secret_options(args)
    deployed = _deployed_outputs(args.outputs)
    config, topology = validated_config(args.stack, args.assignments, project_dir, deployed)
    _check_server(topology, args.server, args.format)
    for note in [*config.notes, *config_notices(config.values), *topology.notices]:
        print(note, file=err)
    if args.tree and args.format != "text":
        raise UsageError("--tree applies to --format text only")
    stack_plan = Plan(capture_stack(config, args.stack, deployed))
    if args.tree:
        view = render_text(stack_plan, args.show_secrets, tree=True)
    elif args.format == "sql":
        view = _sql_with_secrets(stack_plan, args)
    else:
        view = FORMATS[args.format](stack_plan, args.show_secrets, args.server)
    if args.out is None:
        out.write(view)
    else:
        try:
            write_private(Path(args.out), view)
        except OSError as error:
            raise UsageError(f"--out {args.out}: {error.strerror}") from None
        print(f"wrote {args.out} (mode 0600)", file=err)
    return EXIT_OK


def _check_secret_options(args: argparse.Namespace) -> None:
    if args.format == "sql" and args.show_secrets:
        raise UsageError(
            "--show-secrets does not apply to --format sql (passwords are psql variables): use --secrets-from FILE"
        )
    if args.secrets_from is not None and args.format != "sql":
        raise UsageError("--secrets-from applies to --format sql only")


def _sql_with_secrets(plan: Plan, args: argparse.Namespace) -> str:
    """The SQL view; with --secrets-from, its passwords written in from the stack's outputs."""
    if args.secrets_from is None:
        return render_sql(plan, args.server)
    try:
        document = json.loads(Path(args.secrets_from).read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"--secrets-from {args.secrets_from}: {type(error).__name__}: cannot read its JSON") from None
    servers = [args.server] if args.server else plan.server_names()
    try:
        secrets = {server: secrets_from_outputs(plan, server, document) for server in servers}
    except MissingSecretError as error:
        raise UsageError(f"--secrets-from {args.secrets_from}: {error}") from None
    return render_sql(plan, args.server, secrets)


def _dsns(arguments: list[str], topology: Topology) -> dict[str, str]:
    dsns: dict[str, str] = {}
    for argument in arguments:
        name, separator, url = argument.partition("=")
        if not separator or name not in topology.servers:
            raise UsageError(f"--dsn must be SERVER=URL with SERVER one of {', '.join(topology.servers)}")
        dsns[name] = url
    if not dsns:
        raise UsageError(f"--dsn SERVER=URL is required for at least one of {', '.join(topology.servers)}")
    for name, url in dsns.items():
        check_dsn_database(topology.servers[name], url)
    return dsns


def audit(args: argparse.Namespace, out: TextIO, project_dir: Path = PROJECT_DIR) -> int:
    _config, topology = validated_config(args.stack, args.assignments, project_dir)
    try:
        dsns = _dsns(args.dsns, topology)
        findings = audit_servers(topology, dsns)
    except AuditConnectionError as error:
        raise UsageError(str(error)) from None
    audited = [name for name in topology.servers if name in dsns]
    skipped = [name for name in topology.servers if name not in dsns]
    if args.format == "json":
        report = {"stack": args.stack, "audited": audited, "skipped": skipped,
                  "findings": [f.as_dict() for f in findings]}  # fmt: skip
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        out.write(render_text_report(findings, audited, skipped))
    return EXIT_FAILED if findings else EXIT_OK


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    project_dir: Path = PROJECT_DIR,
) -> int:
    """Run the command; returns the exit status (errors are one line on `err`).

    `project_dir` holds Pulumi.yaml and the stack files; the program run is always this project's.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        if args.command == "env":
            return env_command.run(args, out, sys.stdin)
        if args.command == "audit":
            return audit(args, out, project_dir)
        if args.command == "alerts":
            out.write(render_alerts(validated_config(args.stack, args.assignments, project_dir)[1]))
            return EXIT_OK
        if args.command == "diff":
            return diff_command.run(args, out, err, project_dir, validated_config)
        if args.command == "schema":
            return schema_command.run(args, out)
        return plan(args, out, err, project_dir)
    except (ConfigError, ConfigFileError, UsageError, env_command.EnvError, diff_command.DiffUsageError) as error:
        print(str(error), file=err)
        return EXIT_USAGE
    except Exception as error:  # one line for the user; REVIEW_DEBUG shows the rest
        if os.environ.get("REVIEW_DEBUG"):
            traceback.print_exc(file=err)
        message = str(error).splitlines()[0] if str(error) else ""
        print(f"review {args.command} failed: {type(error).__name__}: {message}", file=err)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
