"""Run the real Pulumi program under the SDK's mocks and capture its resource graph.

The mocks fabricate what providers compute (generated passwords honour the RandomPassword's
length and character classes); everything else a resource outputs is what it was given.
A generated value is a function of the resource's URN and inputs, as a deployed stack keeps it
until its inputs change: two runs of an unchanged program agree, so they diff to nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import random
import runpy
import string
import sys
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from resource_types import NETWORK, RANDOM_BYTES, RANDOM_PASSWORD

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = "engarde"
NAMESPACE = "engarde"
PROGRAM_LOG = logging.getLogger("review.program")
"""The program's `pulumi.log` messages under mocks: not shown (the review commands print the
config notices themselves, on the stream they were given)."""
PROGRAM_LOG.addHandler(logging.NullHandler())
PROGRAM_LOG.propagate = False
_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig


@dataclass(frozen=True)
class Secret:
    """A value that reached the engine inside a secret Output."""

    value: Any

    def __repr__(self) -> str:
        return "Secret([secret])"


@dataclass
class Resource:
    """One registered resource, as the engine would receive it."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    """Inputs in wire format (camelCase keys); secret values wrapped in `Secret`."""
    depends_on: list[str]
    """URNs this resource waits for: explicit `depends_on` and input Outputs of other resources."""
    property_dependencies: dict[str, list[str]]
    provider: str | None
    """URN of the explicit provider, if any."""
    protect: bool
    retain_on_delete: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    import_id: str | None = None
    """The `import_` option's ID: the engine adopts the object (its provider's Read), creates nothing."""
    ignore_changes: list[str] = field(default_factory=list)
    stack_frames: tuple[str, ...] = ()
    """The registration's stack trace: each frame's file and line (`uri#line`), innermost first."""
    deleted_with: str | None = None
    """URN of the resource whose deletion takes this one with it (`deleted_with`): never deleted on its own
    when that one goes, and replaced when that one is."""
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """Its `aliases` option as the monitor receives it: `{"urn": ...}`, or a spec with the keys of
    `alias_pb2.Alias.Spec` that are set (`name`, `type`, `parentUrn`, `noParent`, ...)."""


@dataclass
class Capture:
    """A captured program run: the resources in registration order and the stack outputs."""

    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]
    """Stack outputs, resolved; values of secret outputs wrapped in `Secret`."""

    def by_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}


def _wrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            return Secret(unwrap_secrets(_wrap_secrets(value.get("value"))))
        return {k: _wrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_secrets(v) for v in value]
    return value


def unwrap_secrets(value: Any) -> Any:
    """The same value with every `Secret` replaced by what it holds."""
    if isinstance(value, Secret):
        return unwrap_secrets(value.value)
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def seeded_generator(seed: str, inputs: Mapping[str, Any]) -> random.Random:
    """Randomness that is a function of `seed` and `inputs`: what a generated value is made from, so
    an unchanged resource keeps its value from run to run (the mocks seed with the URN)."""
    return random.Random(hashlib.sha256(json.dumps([seed, inputs], sort_keys=True, default=str).encode()).digest())


def fabricate_password(inputs: Mapping[str, Any], seed: str = "") -> str:
    """A password honouring RandomPassword's length, character classes and minimums.

    The same `seed` and inputs give the same password (the mocks seed with the resource's URN).
    """
    generator = seeded_generator(seed, inputs)
    length = int(inputs.get("length", 16))
    classes: list[tuple[str, int]] = []
    for flag, minimum, alphabet in (
        ("upper", "minUpper", string.ascii_uppercase),
        ("lower", "minLower", string.ascii_lowercase),
        ("numeric", "minNumeric", string.digits),
        ("special", "minSpecial", inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?"),
    ):
        if inputs.get(flag, True):
            classes.append((alphabet, max(int(inputs.get(minimum, 0)), 1)))
    chars = [generator.choice(alphabet) for alphabet, count in classes for _ in range(count)]
    pool = "".join(alphabet for alphabet, _ in classes)
    chars += [generator.choice(pool) for _ in range(length - len(chars))]
    generator.shuffle(chars)
    return "".join(chars[:length])


def fabricate_bytes_base64(inputs: Mapping[str, Any], seed: str = "") -> str:
    """RandomBytes' `base64`: `length` bytes in standard base64, starting with bytes that encode to
    `+` and `/`, so a consumer that needs another alphabet is always exercised. The same `seed` and
    inputs give the same bytes (the mocks seed with the resource's URN)."""
    length = int(inputs.get("length", 32))
    data = (b"\xfb\xef\xbe\xff\xff\xff" + seeded_generator(seed, inputs).randbytes(length))[:length]
    return base64.b64encode(data).decode()


READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
"""The engine's builtin invoke behind a stack reference: the program reads its own stack's outputs."""
FABRICATED_SUBNET = "172.18.0.0/16"
"""The Docker network's subnet under the mocks."""


class FabricatingMocks(pulumi.runtime.Mocks):
    """Outputs are the inputs, plus what a provider would compute."""

    def __init__(self, replaced: Collection[str] = (), deployed_outputs: Mapping[str, Any] | None = None) -> None:
        self.replaced = frozenset(replaced)
        """URNs replaced in this run (`pulumi up --replace`): their generated values are new ones."""
        self.deployed_outputs = dict(deployed_outputs or {})
        """The stack's outputs as its last update left them: what the program reads of its own stack."""
        self.registering = threading.local()
        """The URN being registered, per thread (the SDK registers from worker threads)."""

    def seed(self, name: str) -> str:
        """What the value generated for the resource being registered derives from: its URN, and
        whether this run replaces it."""
        urn = str(getattr(self.registering, "urn", name))
        return f"{urn} replaced" if urn in self.replaced else urn

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == RANDOM_PASSWORD:
            outputs["result"] = fabricate_password(args.inputs, self.seed(args.name))
        if args.typ == RANDOM_BYTES:
            outputs["base64"] = fabricate_bytes_base64(args.inputs, self.seed(args.name))
        if args.typ == NETWORK and not outputs.get("ipamConfigs"):
            # What Docker assigns a user-defined bridge network first.
            outputs["ipamConfigs"] = [{"subnet": FABRICATED_SUBNET, "gateway": "172.18.0.1"}]
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == READ_STACK_OUTPUTS:
            return {"name": args.args.get("name"), "outputs": self.deployed_outputs, "secretOutputNames": []}, []
        raise NotImplementedError(f"the program invokes {args.token}, which the mocks do not answer")


class CapturingMonitor(MockMonitor):
    """The SDK's mock monitor, also recording what each registration carries."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.fabricating = mocks if isinstance(mocks, FabricatingMocks) else None
        self.captured: list[Resource] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if self.fabricating is not None:
            self.fabricating.registering.urn = self.make_urn(request.parent, request.type, request.name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = _wrap_secrets(rpc.deserialize_properties(request.object, keep_internal=True))
        registration = self.resources.get(response.urn)
        self.captured.append(
            Resource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                custom=request.custom,
                inputs=inputs,
                depends_on=list(dict.fromkeys(request.dependencies)),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                provider=request.provider.rpartition("::")[0] or None,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                outputs=dict(registration.state) if registration else {},
                import_id=request.importId or None,
                ignore_changes=list(request.ignoreChanges),
                aliases=[_alias(alias) for alias in request.aliases],
                deleted_with=request.deletedWith or None,
                stack_frames=tuple(f"{frame.pc.uri}#{frame.pc.line}" for frame in request.stackTrace.frames),
            )
        )
        return response


def _alias(alias: Any) -> dict[str, Any]:
    if alias.WhichOneof("alias") == "urn":
        return {"urn": alias.urn}
    return {field.name: value for field, value in alias.spec.ListFields()}


def encode_config(raw: Mapping[str, Any]) -> dict[str, str]:
    """Config values as the engine passes them: strings, with objects and booleans in JSON."""
    encoded = {}
    for key, value in raw.items():
        encoded[f"{NAMESPACE}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return encoded


async def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    resolved = await output.future(with_unknowns=False)
    return Secret(resolved) if await output.is_secret() else resolved


def run_program(
    config: Mapping[str, Any],
    stack: str,
    *,
    secret_keys: tuple[str, ...] = (),
    program: Path | None = None,
    replaced: Collection[str] = (),
    deployed_outputs: Mapping[str, Any] | None = None,
) -> Capture:
    """Run `__main__.py` with `config` (keys without namespace) under mocks; return what it registered.

    `program` is another tree's `__main__.py` (its directory goes first on the import path);
    the RandomPasswords in `replaced` (URNs) get new values, as `pulumi up --replace` gives them;
    `deployed_outputs` are the stack's outputs as the program reads them (none: a stack never updated).
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return _run(config, stack, secret_keys, program, replaced, deployed_outputs)
    finally:
        # A loop left open keeps the whole run's resource graph alive.
        loop.close()


def _run(
    config: Mapping[str, Any],
    stack: str,
    secret_keys: tuple[str, ...],
    program: Path | None,
    replaced: Collection[str],
    deployed_outputs: Mapping[str, Any] | None,
) -> Capture:
    settings.reset_options()
    pulumi.runtime.set_all_config(encode_config(config), [f"{NAMESPACE}:{k}" for k in secret_keys])
    mocks = FabricatingMocks(replaced, deployed_outputs)
    monitor = CapturingMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks,
        project=PROJECT,
        stack=stack,
        preview=False,
        monitor=monitor,
        logger=PROGRAM_LOG,
        # What the file backend calls every stack's organization (the program names its own stack with it).
        organization="organization",
    )
    program_path = program or PROJECT_DIR / "__main__.py"
    if str(program_path.parent) not in sys.path:
        sys.path.insert(0, str(program_path.parent))

    def run() -> None:
        runpy.run_path(str(program_path), run_name="__main__")

    _sync_await(run_pulumi_func(run))
    root = settings.get_root_resource()
    raw_outputs: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})

    async def resolve_all() -> dict[str, Any]:
        return {name: await _resolve(value) for name, value in raw_outputs.items()}

    outputs = _sync_await(resolve_all())
    return Capture(stack=stack, resources=monitor.captured, outputs=outputs)


def secret_strings(value: Any) -> list[str]:
    """Strings that are secret on their own: each `Secret` holding a plain string, at any depth.

    A secret list or object (a container's env, the `services` output) is secret as a whole, yet
    holds plain parts (`LANGFLOW_AUTO_LOGIN=False`); only the strings that are secrets themselves
    (passwords) are worth finding elsewhere.
    """
    if isinstance(value, Secret):
        inner = value.value
        return [inner] if isinstance(inner, str) else secret_strings(inner)
    if isinstance(value, dict):
        return [text for item in value.values() for text in secret_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in secret_strings(item)]
    return []


def known_secrets(capture: Capture) -> frozenset[str]:
    """Every password the run handled: generated ones and every secret string input (admin passwords)."""
    found = set(generated_passwords(capture))
    for resource in capture.by_type(RANDOM_BYTES):
        encoded = str(unwrap_secrets(resource.outputs)["base64"])
        found.update({encoded, encoded.replace("+", "-").replace("/", "_")})
    for resource in capture.resources:
        found.update(secret_strings({k: v for k, v in resource.inputs.items() if not k.startswith("__")}))
    return frozenset(text for text in found if text)


def generated_passwords(capture: Capture) -> list[str]:
    """The passwords the mocks fabricated for RandomPassword resources, in registration order."""
    return [
        str(unwrap_secrets(resource.outputs)["result"])
        for resource in capture.resources
        if resource.type == RANDOM_PASSWORD
    ]
