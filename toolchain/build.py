"""`make toolchain`: the Pulumi CLI, its Python language host, the random and docker providers, from Go modules.

Everything is built into a cache directory outside the checkout (`ENGARDE_TOOLCHAIN_DIR`, default
`/var/cache/engarde-toolchain`): `bin/` holds the binaries the end-to-end tests put first on `PATH`,
`src/` the wrapper modules this script writes (go.mod files generated from toolchain/versions.toml,
plus the project's own glue in toolchain/random/ and toolchain/docker/). Nothing but Go modules is downloaded.

A step whose inputs (its versions and glue sources) are unchanged since its last build is skipped, so
a second run takes seconds. The postgresql and mysql plugins cannot be built from the Go module proxy
this project's machines reach (docs/real-engine.md, "The toolchain"): the script checks that they were put in
`bin/` and says how to get them when they were not.

    python3 toolchain/build.py [--dir DIR] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VERSIONS_FILE = HERE / "versions.toml"
DEFAULT_DIR = Path("/var/cache/engarde-toolchain")
BUILD_TAGS = "osusergo,grpcnotrace"  # as pulumi/pulumi's .goreleaser.yml builds its binaries
PULUMI_VERSION_VAR = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
CLIPBOARD_FORK = "github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"
"""pkg/v3's own replace, which a dependent module must repeat (replaces apply to the main module only)."""
PLUGIN_SDK = "github.com/hashicorp/terraform-plugin-sdk/v2"
PLUGIN_SDK_FORK = "github.com/pulumi/terraform-plugin-sdk/v2"
EXTERNAL_PLUGINS = ("postgresql", "mysql")


def versions() -> dict[str, Any]:
    return tomllib.loads(VERSIONS_FILE.read_text())


def toolchain_dir() -> Path:
    return Path(os.environ.get("ENGARDE_TOOLCHAIN_DIR") or DEFAULT_DIR)


@dataclass(frozen=True)
class Step:
    """One thing to build: the binaries it leaves in bin/, and everything its build depends on."""

    name: str
    outputs: tuple[str, ...]
    inputs: Mapping[str, Any]
    build: Callable[[Path, Path], None]
    """(its source directory under src/, bin/)"""

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.inputs, sort_keys=True).encode()).hexdigest()


def go(args: Sequence[str], cwd: Path) -> None:
    env = {**os.environ, "GOFLAGS": "-modcacherw", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    completed = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout + completed.stderr)
        raise SystemExit(f"toolchain: `go {' '.join(args)}` failed in {cwd}")


def go_build(cwd: Path, package: str, output: Path, ldflags: str = "") -> None:
    go(
        ["build", "-trimpath", "-tags", BUILD_TAGS, "-ldflags", f"-s -w {ldflags}".strip(), "-o", str(output), package],
        cwd,
    )


def write_module(directory: Path, module: str, requires: Mapping[str, str], replaces: Sequence[str] = ()) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"module {module}", "", "go 1.26", "", "require ("]
    lines += [f"\t{path} {version}" for path, version in requires.items()]
    lines += [")", ""]
    lines += [f"replace {replace}" for replace in replaces]
    (directory / "go.mod").write_text("\n".join(lines) + "\n")


def tools_file(directory: Path, *packages: str) -> None:
    """A build-tagged file importing main packages, so `go mod tidy` records their dependencies."""
    imports = "\n".join(f'\t_ "{package}"' for package in packages)
    (directory / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")


def cli_step(v: Mapping[str, Any]) -> Step:
    version = v["cli"]["version"]

    def build(src: Path, bin_dir: Path) -> None:
        write_module(
            src,
            "engarde.local/toolchain/cli",
            {"github.com/pulumi/pulumi/pkg/v3": version, "github.com/pulumi/pulumi/sdk/v3": version},
            [CLIPBOARD_FORK],
        )
        tools_file(src, "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi")
        go(["mod", "tidy"], src)
        go_build(
            src, "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", bin_dir / "pulumi", f"-X {PULUMI_VERSION_VAR}={version}"
        )

    return Step("cli", ("pulumi",), {"cli": v["cli"]}, build)


def language_host_step(v: Mapping[str, Any]) -> Step:
    host = v["language_host"]

    def build(src: Path, bin_dir: Path) -> None:
        write_module(
            src,
            "engarde.local/toolchain/language-python",
            {
                host["module"]: host["version"],
                "github.com/pulumi/pulumi/pkg/v3": host["pulumi"],
                "github.com/pulumi/pulumi/sdk/v3": host["pulumi"],
            },
            [CLIPBOARD_FORK],
        )
        tools_file(src, host["module"])
        go(["mod", "tidy"], src)
        go_build(src, host["module"], bin_dir / "pulumi-language-python", f"-X {PULUMI_VERSION_VAR}={host['version']}")

    return Step("language-python", ("pulumi-language-python",), {"language_host": host}, build)


def python_scripts_step(v: Mapping[str, Any]) -> Step:
    """The two scripts the language host runs, from the sdk/v3 module of the PyPI SDK's release."""
    release = "v" + v["python"]["sdk"]
    scripts = {"pulumi-language-python-exec": "python/cmd", "pulumi-resource-pulumi-python": "python/dist"}

    def build(src: Path, bin_dir: Path) -> None:
        src.mkdir(parents=True, exist_ok=True)
        listing = subprocess.run(
            ["go", "mod", "download", "-json", f"github.com/pulumi/pulumi/sdk/v3@{release}"],
            cwd=src,
            capture_output=True,
            text=True,
            env={**os.environ, "GOFLAGS": "-modcacherw"},
        )
        if listing.returncode != 0:
            sys.stderr.write(listing.stdout + listing.stderr)
            raise SystemExit(f"toolchain: github.com/pulumi/pulumi/sdk/v3@{release} could not be downloaded")
        module_dir = Path(json.loads(listing.stdout)["Dir"])
        for script, folder in scripts.items():
            target = bin_dir / script
            target.unlink(missing_ok=True)
            shutil.copyfile(module_dir / folder / script, target)
            target.chmod(0o755)

    return Step("python-scripts", tuple(scripts), {"python": v["python"]}, build)


def bridged_provider_step(v: Mapping[str, Any], name: str, shim_requires: Mapping[str, str] | None = None) -> Step:
    """`pulumi-resource-<name>`: the upstream Terraform provider bridged by the project's glue in toolchain/<name>/.

    The glue is four files: shim.go (a module under the upstream's path, so it may import the upstream's internal/
    constructor), provider.go (the bridge's ProviderInfo: the SDK's tokens and names), tfgen.go (writes the schema)
    and main.go (the plugin, embedding that schema). `shim_requires` pins what shim.go imports beside the upstream.
    """
    entry, bridge = v["providers"][name], v["bridge"]
    glue = {path.name: path.read_text() for path in sorted((HERE / name).glob("*.go"))}
    upstream = entry["upstream"]
    # An upstream whose go.mod declares another path than the one the proxy serves it under is required under the
    # declared path (which its own imports use) and replaced with the served module.
    upstream_replaces = (
        [f"{upstream} => {entry['upstream_source']} {entry['upstream_version']}"] if "upstream_source" in entry else []
    )

    def build(src: Path, bin_dir: Path) -> None:
        tfgen_name, plugin_name = f"pulumi-tfgen-{name}", f"pulumi-resource-{name}"
        shim, provider = src / "shim", src / "provider"
        tfgen, plugin = src / "cmd" / tfgen_name, src / "cmd" / plugin_name
        for directory in (shim, provider, tfgen, plugin):
            directory.mkdir(parents=True, exist_ok=True)
        shim_module = upstream + "/shim"
        write_module(
            shim, shim_module, {**(shim_requires or {}), upstream: entry["upstream_version"]}, upstream_replaces
        )
        shutil.copyfile(HERE / name / "shim.go", shim / "shim.go")
        shutil.copyfile(HERE / name / "provider.go", provider / "provider.go")
        shutil.copyfile(HERE / name / "tfgen.go", tfgen / "main.go")
        shutil.copyfile(HERE / name / "main.go", plugin / "main.go")
        module = f"engarde.local/toolchain/{name}"
        write_module(
            src,
            module,
            {
                "github.com/pulumi/pulumi-terraform-bridge/v3": bridge["version"],
                "github.com/pulumi/pulumi/pkg/v3": bridge["pulumi"],
                "github.com/pulumi/pulumi/sdk/v3": bridge["pulumi"],
                shim_module: "v0.0.0",
            },
            [
                f"{shim_module} => ./shim",
                *upstream_replaces,
                f"{PLUGIN_SDK} => {PLUGIN_SDK_FORK} {bridge['plugin_sdk_fork']}",
            ],
        )
        go(["mod", "tidy"], shim)
        # The plugin embeds the schema tfgen writes: placeholders let `go mod tidy` see the package.
        for generated in ("schema.json", "bridge-metadata.json"):
            (plugin / generated).write_text("{}")
        go(["mod", "tidy"], src)
        version_flag = f"-X {module}/provider.Version={entry['version']}"
        go_build(src, f"./cmd/{tfgen_name}", src / tfgen_name, version_flag)
        generate = subprocess.run(
            [str(src / tfgen_name), "schema", "--skip-docs", "--skip-examples", "--out", str(plugin)],
            cwd=src,
            capture_output=True,
            text=True,
        )
        if generate.returncode != 0:
            sys.stderr.write(generate.stdout + generate.stderr)
            raise SystemExit(f"toolchain: {tfgen_name} could not write the schema")
        # tfgen leaves the version out of the schema; the plugin serves the schema as embedded, and
        # `pulumi package get-schema` (and SDK generation from it) should name the release it stands for.
        schema_file = plugin / "schema.json"
        schema_file.write_text(
            json.dumps({**json.loads(schema_file.read_text()), "version": entry["version"]}, indent=4)
        )
        go_build(src, f"./cmd/{plugin_name}", bin_dir / plugin_name, version_flag)

    return Step(name, (f"pulumi-resource-{name}",), {name: entry, "bridge": bridge, "glue": glue}, build)


def random_step(v: Mapping[str, Any]) -> Step:
    """pulumi-random bridges the upstream's plugin-framework provider, which shim.go hands over."""
    framework = {"github.com/hashicorp/terraform-plugin-framework": v["providers"]["random"]["plugin_framework"]}
    return bridged_provider_step(v, "random", framework)


def docker_step(v: Mapping[str, Any]) -> Step:
    """pulumi-docker bridges the upstream's SDKv2 provider (its plugin-framework half is not in the SDK)."""
    return bridged_provider_step(v, "docker")


def steps(v: Mapping[str, Any]) -> list[Step]:
    return [cli_step(v), language_host_step(v), python_scripts_step(v), random_step(v), docker_step(v)]


def stamp_of(bin_dir: Path, step: Step) -> Path:
    return bin_dir / f".{step.name}.stamp"


def up_to_date(bin_dir: Path, step: Step) -> bool:
    stamp = stamp_of(bin_dir, step)
    return (
        stamp.is_file()
        and stamp.read_text() == step.key()
        and all((bin_dir / output).is_file() for output in step.outputs)
    )


def missing_external_plugins(bin_dir: Path) -> list[str]:
    return [name for name in EXTERNAL_PLUGINS if not (bin_dir / f"pulumi-resource-{name}").is_file()]


def external_plugin_hint(v: Mapping[str, Any], bin_dir: Path, missing: Sequence[str]) -> str:
    installs = "; ".join(f"pulumi plugin install resource {name} {v['providers'][name]['version']}" for name in missing)
    return (
        f"toolchain: {', '.join(f'pulumi-resource-{name}' for name in missing)} not in {bin_dir}: this machine's Go "
        f"module proxy does not serve their sources. On a machine that reaches the Pulumi releases: {installs}; then "
        f"copy each binary from ~/.pulumi/plugins/resource-<name>-v<version>/ into {bin_dir}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="the toolchain directory (default: $ENGARDE_TOOLCHAIN_DIR or /var/cache/engarde-toolchain)",
    )
    parser.add_argument(
        "--check", action="store_true", help="build nothing: exit 1 unless everything is built and current"
    )
    args = parser.parse_args(argv)
    root = args.dir or toolchain_dir()
    bin_dir, src_dir = root / "bin", root / "src"
    bin_dir.mkdir(parents=True, exist_ok=True)
    v = versions()
    stale = [step for step in steps(v) if not up_to_date(bin_dir, step)]
    if args.check:
        for step in stale:
            print(f"toolchain: {step.name} is not built or not current in {bin_dir}")
    else:
        for step in stale:
            started = time.monotonic()
            print(f"toolchain: building {step.name} ...", flush=True)
            step.build(src_dir / step.name, bin_dir)
            stamp_of(bin_dir, step).write_text(step.key())
            print(f"toolchain: {step.name} built in {time.monotonic() - started:.0f} s", flush=True)
        stale = []
    missing = missing_external_plugins(bin_dir)
    if missing:
        print(external_plugin_hint(v, bin_dir, missing))
    print(f"toolchain: {bin_dir}" + ("" if stale or missing else " (complete)"))
    # Without the external plugins the engine-only tests still run (`make e2e-engine`); `--check` is strict.
    return 1 if stale or (missing and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
