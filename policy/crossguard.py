"""CrossGuard adapters: turn what the engine sends into `PolicyInput`s and report what the rules find.

What CrossGuard shows a Python policy (pulumi-policy 1.21):

* resource policies see the resource's inputs, `opts.protect` and its provider; stack policies see every
  resource's outputs and options. Neither sees `retainOnDelete`, so that half of the volume rule runs
  in the tests (on the captured program) only.
* values the engine does not know yet (a preview of computed values) raise on access: they become
  `rules.UNKNOWN`, and the rules skip what they cannot judge (the same check runs again at `pulumi up`).
* secrets arrive as plain values: the SDK unwraps the engine's secret marks before any policy sees
  them (pulumi/pulumi-policy#241). `track_request_secrets` reads the marks from the request first,
  through the SDK's private request handler; without it the credential rule cannot pass a container
  that carries credentials, and says so (fail closed).
* the stack name is the engine's (`PULUMI_STACK`, which the SDK loads into `pulumi.get_stack()`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyProviderResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as sdk
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import UnknownValueError

from policy import rules
from policy.rules import Path, PolicyInput, Violation

PACK_NAME: Final = "engarde-data-plane"
DEFAULT_PROTECTED_STACKS: Final = ("prod",)
SECRETNESS_NOT_VISIBLE: Final = (
    "this container's env carries credentials, and whether they are secret cannot be seen: "
    "the pack's secret tracking is not installed (see policy/crossguard.py)"
)
_HOOK_MARK: Final = "_engarde_tracks_secrets"
_request = threading.local()


def policies() -> list[Policy]:
    """The pack's policies, all mandatory."""
    mandatory = EnforcementLevel.MANDATORY
    return [
        ResourceValidationPolicy(
            name="no-elevated-login-roles",
            description="No LOGIN role is SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS"
            " (but engarde_replicator: REPLICATION alone).",
            validate=validate_login_roles,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="one-resource-per-privilege-key",
            description="At most one Grant / DefaultPrivileges per key: the provider revokes the key first.",
            validate=validate_privilege_keys,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="container-credentials-secret",
            description="Credentials in a container's env are secrets, never plain text in the state.",
            validate=validate_container_credentials,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="pinned-images",
            description="Container images are pinned to a tag other than `latest`, or to a digest.",
            validate=validate_images,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="protect-stateful-resources",
            description="In protected stacks, databases, schemas, data-owning roles and volumes are protected.",
            validate=validate_protection,
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(
                properties={
                    "protectedStacks": {
                        "type": "array",
                        "items": {"type": "string"},
                        "default": list(DEFAULT_PROTECTED_STACKS),
                    }
                }
            ),
        ),
    ]


def validate_login_roles(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """CrossGuard adapter of `rules.elevated_login_roles`."""
    if args.resource_type == rules.ROLE:
        _report(rules.elevated_login_roles([resource_input(args)]), report_violation)


def validate_privilege_keys(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """CrossGuard adapter of `rules.duplicate_privilege_keys`."""
    _report(rules.duplicate_privilege_keys(stack_inputs(args)), report_violation, with_urn=True)


def validate_container_credentials(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """CrossGuard adapter of `rules.plaintext_credentials`."""
    if args.resource_type != rules.CONTAINER:
        return
    secrets = request_secrets()
    violations = rules.plaintext_credentials([resource_input(args, secrets or frozenset())])
    if violations and secrets is None:
        report_violation(SECRETNESS_NOT_VISIBLE, None)
        return
    _report(violations, report_violation)


def validate_images(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """CrossGuard adapter of `rules.unpinned_images`."""
    if args.resource_type == rules.CONTAINER:
        _report(rules.unpinned_images([resource_input(args)]), report_violation)


def validate_protection(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """CrossGuard adapter of `rules.unprotected_stateful`, for the stacks listed in `protectedStacks`."""
    stack = pulumi.get_stack()
    if not rules.is_protected_stack(stack, protected_stacks(args.get_config())):
        args.not_applicable(f"stack {stack!r} is not in protectedStacks")
        return
    _report(rules.unprotected_stateful(stack_inputs(args)), report_violation, with_urn=True)


def protected_stacks(config: Mapping[str, Any]) -> list[str]:
    """The `protectedStacks` policy config, `["prod"]` when not set."""
    value = config.get("protectedStacks", DEFAULT_PROTECTED_STACKS)
    if not isinstance(value, list | tuple) or not all(isinstance(name, str) for name in value):
        raise ValueError(f"protectedStacks must be a list of stack names, not {value!r}")
    return list(value)


def resource_input(args: ResourceValidationArgs, secrets: frozenset[Path] = frozenset()) -> PolicyInput:
    """A resource under validation (its inputs), as the rules take it."""
    return PolicyInput(
        urn=args.urn,
        type=args.resource_type,
        name=args.name,
        props=plain_props(args.props),
        provider=_provider_urn(args.provider),
        protect=bool(args.opts.protect),
        secrets=secrets,
    )


def stack_inputs(args: StackValidationArgs) -> list[PolicyInput]:
    """Every resource of the stack (its outputs), as the rules take them."""
    return [
        PolicyInput(
            urn=resource.urn,
            type=resource.resource_type,
            name=resource.name,
            props=plain_props(resource.props),
            provider=_provider_urn(resource.provider),
            protect=bool(resource.opts.protect),
        )
        for resource in args.resources
    ]


def plain_props(props: Mapping[str, Any]) -> dict[str, object]:
    """CrossGuard's property proxy as plain dicts and lists, `rules.UNKNOWN` where a value is not known yet."""
    return {str(key): _item(props, key) for key in props}


def plain(value: object) -> object:
    """A proxied property value as plain data (the proxy raises on unknown values: they become UNKNOWN)."""
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Mapping):
        return plain_props(value)
    if isinstance(value, Sequence):
        return [_item(value, index) for index in range(len(value))]
    return value


def secret_paths(value: object, path: Path = ()) -> frozenset[Path]:
    """Paths of the values marked secret in a property tree in the engine's wire format."""
    # A protobuf Struct is a Mapping and its ListValues Sequences: the request is read as it is.
    if isinstance(value, Mapping):
        # `in` first: indexing a protobuf Struct with a missing key would add it to the request.
        if SPECIAL_SIG_KEY in value and value[SPECIAL_SIG_KEY] == SPECIAL_SECRET_SIG:
            return frozenset({path})
        return _union(secret_paths(item, (*path, str(key))) for key, item in value.items())
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return _union(secret_paths(item, (*path, index)) for index, item in enumerate(value))
    return frozenset()


def track_request_secrets() -> bool:
    """Record which properties the engine sent as secrets, per resource request; True when in place."""
    # The SDK drops the marks before any policy runs, so this wraps its private request handler.
    # policy/requirements.txt pins the SDK version this reads; tests/policy fail if it stops seeing secrets.
    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    analyze = getattr(servicer, "Analyze", None)
    if servicer is None or not callable(analyze):
        return False
    if not getattr(analyze, _HOOK_MARK, False):
        setattr(servicer, "Analyze", _tracking(analyze))  # noqa: B010 - the attribute is private to the SDK
    return True


def track_stack_name() -> bool:
    """Take the stack's name from the engine's ConfigureStack request; True when in place.

    The CLI this project runs (v3.277) names the stack to a policy pack in ConfigureStack only, no
    longer in `PULUMI_STACK`, the one place pulumi_policy 1.21 reads it from: without this the pack
    saw no stack name and took every stack, prod included, for an unprotected one.
    """
    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    configure = getattr(servicer, "ConfigureStack", None)
    if servicer is None or not callable(configure):
        return False
    if not getattr(configure, _HOOK_MARK, False):
        setattr(servicer, "ConfigureStack", _naming_stack(configure))  # noqa: B010 - private to the SDK
    return True


def _naming_stack(configure: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(configure)
    def configure_stack_naming_it(self: object, request: Any, context: Any) -> Any:
        if getattr(request, "stack", ""):
            pulumi.runtime.settings._set_stack(request.stack)
        return configure(self, request, context)

    setattr(configure_stack_naming_it, _HOOK_MARK, True)
    return configure_stack_naming_it


def request_secrets() -> frozenset[Path] | None:
    """Secret property paths of the request being analysed; None when `track_request_secrets` is not in place."""
    paths: frozenset[Path] | None = getattr(_request, "secrets", None)
    return paths


def _tracking(analyze: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(analyze)
    def analyze_tracking_secrets(self: object, request: Any, context: Any) -> Any:
        # The SDK runs a request's validations synchronously on the gRPC worker thread: a thread-local
        # holds exactly this request's marks while they run.
        _request.secrets = secret_paths(request.properties)
        try:
            return analyze(self, request, context)
        finally:
            _request.secrets = None

    setattr(analyze_tracking_secrets, _HOOK_MARK, True)
    return analyze_tracking_secrets


def _item(container: Any, key: object) -> object:
    try:
        value = container[key]
    except UnknownValueError:
        return rules.UNKNOWN
    return plain(value)


def _union(sets: Iterable[frozenset[Path]]) -> frozenset[Path]:
    return frozenset().union(*sets)


def _provider_urn(provider: PolicyProviderResource | None) -> str | None:
    return provider.urn if provider is not None else None


def _report(violations: list[Violation], report_violation: ReportViolation, *, with_urn: bool = False) -> None:
    # A resource policy's violation always lands on the resource under validation: no URN needed.
    for violation in violations:
        report_violation(violation.message, violation.urn if with_urn else None)
