"""The policy pack (policy/): each rule on the real program's captured stacks, then broken on purpose;
the CrossGuard adapters through the SDK's request handler; the pack booted as the Pulumi CLI boots it."""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# grpcio and protobuf ship no type stubs (the project does not depend on types-grpcio / types-protobuf).
import grpc  # type: ignore[import-untyped, unused-ignore]
import pulumi.runtime.settings
import pytest
from google.protobuf import empty_pb2  # type: ignore[import-untyped, unused-ignore]
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel
from pulumi_policy import policy as sdk
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy import crossguard, rules
from policy.rules import PolicyInput, Violation
from resource_types import COMPONENT_PREFIX
from review.capture.program import Capture, Resource, Secret, unwrap_secrets
from tests.conftest import capture

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"
POLICY_NAMES = [
    "no-elevated-login-roles",
    "one-resource-per-privilege-key",
    "container-credentials-secret",
    "pinned-images",
    "protect-stateful-resources",
]
LANGFLOW_CREDENTIALS = [
    "ENGARDE_DATABASE_URL",
    "LANGFLOW_DATABASE_URL",
    "LANGFLOW_REDIS_URL",
    "LANGFLOW_SECRET_KEY",
    "LANGFLOW_SUPERUSER_PASSWORD",
]


# --- the captured program, as the rules take it ---------------------------------------------------


def secret_paths(value: object, path: rules.Path = ()) -> frozenset[rules.Path]:
    """Paths of the `Secret`-wrapped values in captured inputs."""
    if isinstance(value, Secret):
        return frozenset({path})
    if isinstance(value, dict):
        return frozenset().union(*(secret_paths(v, (*path, k)) for k, v in value.items()))
    if isinstance(value, list):
        return frozenset().union(*(secret_paths(v, (*path, i)) for i, v in enumerate(value)))
    return frozenset()


def as_input(resource: Resource) -> PolicyInput:
    """A captured resource as the rules take it."""
    return PolicyInput(
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        props=unwrap_secrets(resource.inputs),
        provider=resource.provider,
        protect=resource.protect,
        retain_on_delete=resource.retain_on_delete,
        secrets=secret_paths(resource.inputs),
    )


def inputs_of(stack: Capture) -> list[PolicyInput]:
    return [as_input(resource) for resource in stack.resources]


def named(resources: list[PolicyInput], name: str) -> PolicyInput:
    """The custom resource called `name` (its component, if any, has the same name and an `engarde:` type)."""
    (match,) = [r for r in resources if r.name == name and not r.type.startswith(COMPONENT_PREFIX)]
    return match


def mutated(stack: Capture, name: str, change: Callable[[PolicyInput], PolicyInput]) -> list[PolicyInput]:
    """The stack's resources with the custom resource called `name` changed."""
    resources = inputs_of(stack)
    target = named(resources, name)
    return [change(r) if r is target else r for r in resources]


def with_props(**changes: object) -> Callable[[PolicyInput], PolicyInput]:
    return lambda resource: dataclasses.replace(resource, props={**resource.props, **changes})


def copied(stack: Capture, name: str) -> list[PolicyInput]:
    """The stack plus a second resource with the same inputs as `name` (what a copy-paste in a PR adds)."""
    resources = inputs_of(stack)
    original = named(resources, name)
    copy = dataclasses.replace(original, urn=original.urn + "-copy", name=original.name + "-copy")
    return [*resources, copy]


@pytest.fixture(scope="module")
def protected_dev() -> Capture:
    """Dev with `protect: true`: containers and volumes exist and are protected."""
    return capture("dev", protect=True)


# --- rule 1: no login role with elevated attributes ------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod", "shared"])
def test_real_stacks_have_no_elevated_login_role(stack: str, request: pytest.FixtureRequest) -> None:
    assert rules.elevated_login_roles(inputs_of(request.getfixturevalue(stack))) == []


def test_superuser_login_role_is_refused(dev: Capture) -> None:
    resources = mutated(dev, "main-engarde_app", with_props(superuser=True, createRole=True))
    role = named(resources, "main-engarde_app")
    assert rules.elevated_login_roles(resources) == [
        Violation(
            role.urn, "Role 'main-engarde_app' ('engarde_app') logs in and has superuser, createRole: no login role may"
        )
    ]


def test_elevated_role_is_judged_when_login_is_not_known_yet(dev: Capture) -> None:
    resources = mutated(dev, "main-audit_user", with_props(login=rules.UNKNOWN, replication=True))
    assert [v.urn for v in rules.elevated_login_roles(resources)] == [named(resources, "main-audit_user").urn]


def test_the_replication_role_alone_may_log_in_with_replication(replicated: Capture) -> None:
    assert rules.elevated_login_roles(inputs_of(replicated)) == []
    # REPLICATION on any other login role, or anything more on the replicator, is refused.
    other = mutated(replicated, "main-analytics_readonly", with_props(replication=True))
    assert [v.urn for v in rules.elevated_login_roles(other)] == [named(other, "main-analytics_readonly").urn]
    more = mutated(replicated, "main-engarde_replicator", with_props(createRole=True))
    assert [v.message for v in rules.elevated_login_roles(more)] == [
        "Role 'main-engarde_replicator' ('engarde_replicator') logs in and has createRole, replication:"
        " no login role may"
    ]


def test_nologin_role_is_not_a_login_role(dev: Capture) -> None:
    assert rules.elevated_login_roles(mutated(dev, "main-audit_owner", with_props(createRole=True))) == []


# --- rule 2: one Grant / DefaultPrivileges per key ------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod", "shared"])
def test_real_stacks_have_one_resource_per_privilege_key(stack: str, request: pytest.FixtureRequest) -> None:
    assert rules.duplicate_privilege_keys(inputs_of(request.getfixturevalue(stack))) == []


def test_same_key_on_two_servers_is_two_keys(prod: Capture) -> None:
    # prod grants public_read on railway.public on main and on flowdb: only the provider tells them apart.
    resources = inputs_of(prod)
    main, flowdb = (rules.privilege_key(named(resources, f"{s}-public_read-tables")) for s in ("main", "flowdb"))
    assert main is not None and flowdb is not None
    assert main[1] != flowdb[1]
    assert main[2:] == flowdb[2:]
    assert rules.duplicate_privilege_keys(resources) == []


def test_duplicated_grant_is_refused(prod: Capture) -> None:
    resources = copied(prod, "main-madansara_read-tables")
    (violation,) = rules.duplicate_privilege_keys(resources)
    assert violation.urn == resources[-1].urn
    assert violation.message.startswith(
        "Grant resources 'main-madansara_read-tables', 'main-madansara_read-tables-copy' share one key "
        "(database 'railway', role 'madansara_read', schema 'madansara', objectType 'table')"
    )


def test_duplicated_default_privileges_are_refused(dev: Capture) -> None:
    name = next(r.name for r in dev.resources if r.type == rules.DEFAULT_PRIVILEGES)
    resources = copied(dev, name)
    assert [v.urn for v in rules.duplicate_privilege_keys(resources)] == [resources[-1].urn]


def test_grant_with_a_key_not_known_yet_is_not_judged(prod: Capture) -> None:
    resources = copied(prod, "main-madansara_read-tables")
    resources[-1] = with_props(role=rules.UNKNOWN)(resources[-1])
    assert rules.duplicate_privilege_keys(resources) == []


# --- rule 3: credentials in container env are secret ----------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod", "shared"])
def test_real_stacks_keep_container_credentials_secret(stack: str, request: pytest.FixtureRequest) -> None:
    assert rules.plaintext_credentials(inputs_of(request.getfixturevalue(stack))) == []


def test_plain_env_with_credentials_is_refused(dev: Capture) -> None:
    resources = mutated(dev, "langflow-server", lambda r: dataclasses.replace(r, secrets=frozenset()))
    assert rules.plaintext_credentials(resources) == [
        Violation(
            named(resources, "langflow-server").urn,
            "Container 'langflow-server' ('engarde-dev-langflow-server') has credentials in plain text: "
            f"{', '.join(LANGFLOW_CREDENTIALS)} (pass the env as a secret Output)",
        )
    ]


def test_env_with_only_its_credentials_secret_passes(dev: Capture) -> None:
    def secret_credentials_only(container: PolicyInput) -> PolicyInput:
        envs = container.props["envs"]
        assert isinstance(envs, list)
        secret = frozenset(("envs", i) for i, entry in enumerate(envs) if rules.is_credential(entry))
        return dataclasses.replace(container, secrets=secret)

    assert rules.plaintext_credentials(mutated(dev, "langflow-server", secret_credentials_only)) == []


@pytest.mark.parametrize(
    ("entry", "credential"),
    [
        ("DB_PASSWORD=x", True),
        ("LANGFLOW_SECRET_KEY=x", True),
        ("GITHUB_TOKEN=x", True),
        ("api_key=x", True),
        ("DATABASE_URL=postgresql://u:p%40ss@h:5432/db", True),
        ("REDIS_URL=redis://:pw@redis:6379/0", True),
        ("DATABASE_URL=postgresql://u@h:5432/db", False),
        ("BASE_URL=http://localhost:8080/a:b", False),
        ("DB_USERNAME=scheduler_user", False),
        ("LANGFLOW_SUPERUSER=admin", False),
    ],
)
def test_credential_entries(entry: str, credential: bool) -> None:
    assert rules.is_credential(entry) is credential


# --- rule 4: pinned images ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod", "shared"])
def test_real_stacks_pin_their_images(stack: str, request: pytest.FixtureRequest) -> None:
    assert rules.unpinned_images(inputs_of(request.getfixturevalue(stack))) == []


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("redis:latest", "uses `latest`: pin a version"),
        ("redis", "has no tag: pin a version"),
        ("registry.local:5000/redis", "has no tag: pin a version"),
    ],
)
def test_unpinned_image_is_refused(dev: Capture, image: str, problem: str) -> None:
    resources = mutated(dev, "redis", with_props(image=image))
    assert rules.unpinned_images(resources) == [
        Violation(
            named(resources, "redis").urn,
            f"Container 'redis' ('engarde-dev-redis'): image {image!r} {problem}",
        )
    ]


@pytest.mark.parametrize(
    "image", ["redis:7.2.5", "registry.local:5000/redis:7.2.5", "redis@sha256:" + "a" * 64, "redis:latest@sha256:ab"]
)
def test_pinned_references(image: str) -> None:
    assert rules.image_pin_problem(image) is None


# --- rule 5: protect stateful resources in protected stacks ---------------------------------------


def test_prod_protects_every_stateful_resource(prod: Capture) -> None:
    assert rules.unprotected_stateful(inputs_of(prod)) == []


def test_protect_config_covers_containers_and_volumes(protected_dev: Capture) -> None:
    resources = inputs_of(protected_dev)
    stateful = [r.name for r in resources if rules.is_stateful(r, rules.data_owning_roles(resources))]
    assert {"main-container", "main-data", "scheduler-container", "scheduler-data"} <= set(stateful)
    assert rules.unprotected_stateful(resources) == []


def test_data_owning_roles_are_the_owners_and_creators(prod: Capture) -> None:
    roles = {role for _, role in rules.data_owning_roles(inputs_of(prod))}
    assert roles == {
        "engarde_app",  # CREATE on the adopted public schema
        "madansara_user",
        "sankore_user",
        "onside_user",
        "capilytics_user",
        "audit_owner",
        "langflow_app",  # CREATE on flowdb's adopted public schema
    }


@pytest.mark.parametrize("name", ["main-madansara", "main-engarde_app", "flowdb-langflow_app", "main-audit_owner"])
def test_unprotected_stateful_resource_is_refused(prod: Capture, name: str) -> None:
    resources = mutated(prod, name, lambda r: dataclasses.replace(r, protect=False))
    (violation,) = rules.unprotected_stateful(resources)
    assert violation.urn == named(resources, name).urn
    assert violation.message.endswith("holds data and is not protected")


def test_volume_not_retained_on_delete_is_refused(protected_dev: Capture) -> None:
    resources = mutated(protected_dev, "main-data", lambda r: dataclasses.replace(r, retain_on_delete=False))
    assert [v.message for v in rules.unprotected_stateful(resources)] == [
        "Volume 'main-data' ('engarde-dev-main-data') holds data and is not retainOnDelete"
    ]


def test_unprotected_server_container_is_refused(protected_dev: Capture) -> None:
    resources = mutated(protected_dev, "main-container", lambda r: dataclasses.replace(r, protect=False))
    assert [v.urn for v in rules.unprotected_stateful(resources)] == [named(resources, "main-container").urn]


@pytest.mark.parametrize(
    ("stack", "protected"), [("prod", True), ("acme/engarde/prod", True), ("dev", False), ("prod-copy", False)]
)
def test_protected_stacks(stack: str, protected: bool) -> None:
    assert rules.is_protected_stack(stack, ["prod"]) is protected


# --- the CrossGuard adapters, through the SDK's own request handler -------------------------------


def wire(value: object) -> object:
    """Captured inputs in the engine's wire format: secrets marked as the engine marks them."""
    if isinstance(value, Secret):
        return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": wire(value.value)}
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def _engine_message(message_type: Any, resource: Resource, stack: Capture) -> Any:
    message = message_type(
        type=resource.type,
        urn=resource.urn,
        name=resource.name,
        options=proto.AnalyzerResourceOptions(protect=resource.protect),
        provider=provider_of(resource, stack),
    )
    message.properties.update(wire(resource.inputs))
    return message


def analyzer_resource(resource: Resource, stack: Capture) -> proto.AnalyzerResource:
    """A captured resource as the engine sends it in a stack request."""
    result: proto.AnalyzerResource = _engine_message(proto.AnalyzerResource, resource, stack)
    return result


def analyze_request(resource: Resource, stack: Capture) -> proto.AnalyzeRequest:
    """A captured resource as the engine sends it for a resource policy."""
    result: proto.AnalyzeRequest = _engine_message(proto.AnalyzeRequest, resource, stack)
    return result


def provider_of(resource: Resource, stack: Capture) -> proto.AnalyzerProviderResource | None:
    if resource.provider is None:
        return None
    provider = stack.by_urn()[resource.provider]
    return proto.AnalyzerProviderResource(type=provider.type, urn=provider.urn, name=provider.name)


def resource_named(stack: Capture, name: str, type_: str) -> Resource:
    (match,) = [r for r in stack.resources if r.name == name and r.type == type_]
    return match


@pytest.fixture
def servicer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The SDK's request handler serving the pack's policies, with the pack's secret tracking installed."""
    # Set to itself first, so that teardown puts the SDK's own handler back after the hook replaces it.
    monkeypatch.setattr(sdk._PolicyAnalyzerServicer, "Analyze", sdk._PolicyAnalyzerServicer.Analyze)
    assert crossguard.track_request_secrets()
    # The handler loads the stack name from the engine's env into the SDK's global settings: restore them.
    monkeypatch.setattr(pulumi.runtime.settings, "SETTINGS", pulumi.runtime.settings.SETTINGS)
    yield sdk._PolicyAnalyzerServicer(crossguard.PACK_NAME, "0.0.1", crossguard.policies(), EnforcementLevel.MANDATORY)


def on_stack(monkeypatch: pytest.MonkeyPatch, stack: str) -> None:
    """The env the engine gives a policy pack for `stack`."""
    for key, value in {"PULUMI_PROJECT": "engarde", "PULUMI_STACK": stack, "PULUMI_DRY_RUN": "true"}.items():
        monkeypatch.setenv(key, value)


def diagnostics(response: proto.AnalyzeResponse) -> list[tuple[str, str]]:
    return [(d.policyName, d.urn) for d in response.diagnostics]


def analyze(servicer: Any, request: proto.AnalyzeRequest) -> proto.AnalyzeResponse:
    response: proto.AnalyzeResponse = servicer.Analyze(request, None)
    assert all(d.enforcementLevel == proto.MANDATORY for d in response.diagnostics)
    return response


def analyze_stack(servicer: Any, resources: list[proto.AnalyzerResource]) -> proto.AnalyzeResponse:
    response: proto.AnalyzeResponse = servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None)
    assert all(d.enforcementLevel == proto.MANDATORY for d in response.diagnostics)
    return response


def test_engine_requests_for_dev_pass(servicer: Any, dev: Capture) -> None:
    for resource in dev.resources:
        assert diagnostics(analyze(servicer, analyze_request(resource, dev))) == [], resource.name


def test_elevated_login_role_is_refused_through_the_engine_request(servicer: Any, dev: Capture) -> None:
    role = resource_named(dev, "main-engarde_app", rules.ROLE)
    elevated = dataclasses.replace(role, inputs={**role.inputs, "bypassRowLevelSecurity": True})
    assert diagnostics(analyze(servicer, analyze_request(elevated, dev))) == [("no-elevated-login-roles", "")]


def test_plain_credentials_are_refused_through_the_engine_request(servicer: Any, dev: Capture) -> None:
    container = resource_named(dev, "langflow-server", rules.CONTAINER)
    plain = dataclasses.replace(
        container, inputs={**container.inputs, "envs": unwrap_secrets(container.inputs["envs"])}
    )
    (diagnostic,) = analyze(servicer, analyze_request(plain, dev)).diagnostics
    assert diagnostic.policyName == "container-credentials-secret"
    assert f"in plain text: {', '.join(LANGFLOW_CREDENTIALS)} " in diagnostic.message


def test_latest_image_is_refused_through_the_engine_request(servicer: Any, dev: Capture) -> None:
    redis = resource_named(dev, "redis", rules.CONTAINER)
    latest = dataclasses.replace(redis, inputs={**redis.inputs, "image": "redis:latest"})
    assert diagnostics(analyze(servicer, analyze_request(latest, dev))) == [("pinned-images", "")]


def test_values_not_known_in_preview_are_skipped_or_judged(servicer: Any, dev: Capture) -> None:
    container = resource_named(dev, "langflow-server", rules.CONTAINER)
    unknown_env = dataclasses.replace(container, inputs={**container.inputs, "envs": UNKNOWN_STRING_VALUE})
    assert list(analyze(servicer, analyze_request(unknown_env, dev)).diagnostics) == []
    role = resource_named(dev, "main-audit_user", rules.ROLE)
    maybe_login = dataclasses.replace(role, inputs={**role.inputs, "login": UNKNOWN_STRING_VALUE, "superuser": True})
    assert diagnostics(analyze(servicer, analyze_request(maybe_login, dev))) == [("no-elevated-login-roles", "")]


def test_without_secret_tracking_credentials_fail_closed(monkeypatch: pytest.MonkeyPatch, dev: Capture) -> None:
    monkeypatch.setattr(sdk._PolicyAnalyzerServicer, "Analyze", inspect.unwrap(sdk._PolicyAnalyzerServicer.Analyze))
    servicer = sdk._PolicyAnalyzerServicer(
        crossguard.PACK_NAME, "0.0.1", crossguard.policies(), EnforcementLevel.MANDATORY
    )
    container = resource_named(dev, "langflow-server", rules.CONTAINER)
    messages = [d.message for d in analyze(servicer, analyze_request(container, dev)).diagnostics]
    assert messages == [f"{crossguard.policies()[2].description}\n{crossguard.SECRETNESS_NOT_VISIBLE}"]


def test_engine_stack_request_for_prod_passes(servicer: Any, prod: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    on_stack(monkeypatch, "prod")
    response = analyze_stack(servicer, [analyzer_resource(r, prod) for r in prod.resources])
    assert diagnostics(response) == []
    assert list(response.not_applicable) == []


def test_unprotected_schema_is_refused_in_prod(servicer: Any, prod: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    on_stack(monkeypatch, "prod")
    schema = resource_named(prod, "main-audit", rules.SCHEMA)
    resources = [
        analyzer_resource(dataclasses.replace(r, protect=False) if r is schema else r, prod) for r in prod.resources
    ]
    assert diagnostics(analyze_stack(servicer, resources)) == [("protect-stateful-resources", schema.urn)]


def test_protection_is_not_applicable_to_dev(servicer: Any, dev: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    on_stack(monkeypatch, "dev")
    response = analyze_stack(servicer, [analyzer_resource(r, dev) for r in dev.resources])
    assert diagnostics(response) == []
    assert [(n.policy_name, n.reason) for n in response.not_applicable] == [
        ("protect-stateful-resources", "stack 'dev' is not in protectedStacks")
    ]


def test_protected_stacks_come_from_the_policy_config(
    servicer: Any, dev: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_stack(monkeypatch, "dev")
    config = proto.PolicyConfig(enforcementLevel=proto.MANDATORY)
    config.properties.update({"protectedStacks": ["dev"]})
    servicer.Configure(proto.ConfigureAnalyzerRequest(policyConfig={"protect-stateful-resources": config}), None)
    response = analyze_stack(servicer, [analyzer_resource(r, dev) for r in dev.resources])
    # Dev does not protect: every database, schema, data-owning role, volume and server container is named.
    names = {dev.by_urn()[urn].name for _, urn in diagnostics(response)}
    assert {"main-engarde", "main-madansara", "main-engarde_app", "main-data", "main-container"} <= names


def test_duplicated_grant_is_refused_through_the_engine(
    servicer: Any, prod: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_stack(monkeypatch, "prod")
    grant = resource_named(prod, "main-audit_append-tables", rules.GRANT)
    copy = dataclasses.replace(grant, urn=grant.urn + "-copy", name=grant.name + "-copy")
    response = analyze_stack(servicer, [analyzer_resource(r, prod) for r in [*prod.resources, copy]])
    assert diagnostics(response) == [("one-resource-per-privilege-key", copy.urn)]


# --- the pack, booted as the Pulumi CLI boots a Python policy pack --------------------------------


@pytest.fixture
def served_pack() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """`python -m pulumi.policy <engine> .` in policy/ (the CLI's launcher), answering on the port it prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=POLICY_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = first_line(process, timeout=60)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the process prints (the policy pack's port), or its stderr on failure."""
    lines: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0].strip():
        process.kill()
        _, stderr = process.communicate(timeout=30)
        pytest.fail(f"the policy pack did not start:\n{stderr}")
    return lines[0].strip()


def test_the_pack_boots_and_serves_its_policies(served_pack: analyzer_pb2_grpc.AnalyzerStub, dev: Capture) -> None:
    info = served_pack.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == crossguard.PACK_NAME
    assert [(p.name, p.enforcementLevel) for p in info.policies] == [(n, proto.MANDATORY) for n in POLICY_NAMES]
    container = resource_named(dev, "langflow-server", rules.CONTAINER)
    plain = dataclasses.replace(
        container, inputs={**container.inputs, "envs": unwrap_secrets(container.inputs["envs"])}
    )
    secret = served_pack.Analyze(analyze_request(container, dev), timeout=30)
    refused = served_pack.Analyze(analyze_request(plain, dev), timeout=30)
    assert diagnostics(secret) == []
    assert diagnostics(refused) == [("container-credentials-secret", "")]


def test_a_backup_job_with_a_server_image_is_not_a_database_server(dev: Capture) -> None:
    containers = {str(unwrap_secrets(r.inputs)["name"]): as_input(r) for r in dev.by_type(rules.CONTAINER)}
    assert rules.is_database_server(containers["engarde-dev-main"])
    assert not rules.is_database_server(containers["engarde-dev-backup-main"])
    assert containers["engarde-dev-backup-main"].props["image"] == containers["engarde-dev-main"].props["image"]


def test_the_stack_name_comes_from_the_engines_configure_stack_request() -> None:
    # The real CLI (v3.277) names the stack in ConfigureStack only: without the hook the pack saw
    # no name, and prod's protection policy never applied (tests/e2e/test_policy.py shows it end to end).
    from pulumi.runtime import settings
    from pulumi.runtime.proto import analyzer_pb2
    from pulumi_policy import policy as sdk

    from policy.crossguard import track_stack_name

    previous = pulumi.get_stack()
    assert track_stack_name()
    servicer = sdk._PolicyAnalyzerServicer.__new__(sdk._PolicyAnalyzerServicer)
    try:
        servicer.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack="prod"), None)
        assert pulumi.get_stack() == "prod"
    finally:
        settings._set_stack(previous)
