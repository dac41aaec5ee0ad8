"""What image a container server may run: its engine's official image (or MariaDB's, for MySQL) at a supported
version, or any other image that says the version it runs (`imageVersion`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from topology.capabilities import POSTGRES_VERSIONS
from topology.config.refusals import refuse
from topology.model import Engine

SERVER_IMAGES = {Engine.POSTGRESQL: "postgres", Engine.MYSQL: "mysql"}
"""The official image of each engine: a server of that engine runs it, or says its version."""
MARIADB_IMAGE = "mariadb"
"""MariaDB's official image, which a MySQL server may run at a release in `SERVER_VERSIONS`."""
SERVER_VERSIONS: dict[Engine, tuple[str, ...]] = {
    Engine.POSTGRESQL: tuple(map(str, POSTGRES_VERSIONS)),
    # MariaDB up to 10.9 only: the mysql provider (terraform-provider-mysql v1.9.0) reads
    # `@@GLOBAL.innodb_version` before it creates a user, which MariaDB 10.10+ does not have; 10.5 is
    # the release the tests run.
    Engine.MYSQL: ("8", "mariadb-10.5"),
}
"""What a server of each engine may run: PostgreSQL and MySQL majors, `mariadb-<release>`."""


def image_version(image: str) -> tuple[str, str]:
    """(the image's name without registry or tag, the version its official tag names or "")."""
    reference = image.partition("@")[0]
    repository, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "")
    name = repository.rsplit("/", 1)[-1]
    release = tag.split("-", 1)[0].split(".")
    if name == MARIADB_IMAGE:
        return name, f"mariadb-{'.'.join(release[:2])}" if len(release) >= 2 and all(release[:2]) else ""
    return name, release[0] if release[0].isdigit() else ""


def image_runs(engine: Engine, image: str, declared: str | None) -> str:
    """The version `image` runs (one of `SERVER_VERSIONS`): its official tag's, or `declared` (`imageVersion`)."""
    supported = SERVER_VERSIONS[engine]
    allowed = ", ".join(supported)
    official = SERVER_IMAGES[engine]
    name, version = image_version(image)
    other_engines = {other for other, image_name in SERVER_IMAGES.items() if image_name == name and other != engine}
    if other_engines or (engine is Engine.POSTGRESQL and name == MARIADB_IMAGE):
        raise refuse(f"runs another engine than the server's ({engine.value}): use a {official} image", key="image")
    if declared is not None:
        if name in (official, MARIADB_IMAGE) and version and version != declared:
            raise refuse(f"is {declared}, but image {image!r} runs {version}", key="imageVersion")
        return declared
    if name not in (official, MARIADB_IMAGE) or not version:
        raise refuse(
            f"is required for image {image!r}: the {engine.value} major version it runs ({allowed}); "
            f"an official {official}:<version> image needs none",
            key="imageVersion",
        )
    if version not in supported:
        raise refuse(f"must run {engine.value} {allowed} (got {image!r})", key="image")
    return version


def image_version_type(engine: Engine) -> Any:
    """`imageVersion` of a server of `engine`: one of the versions it may run, or not given."""
    supported = SERVER_VERSIONS[engine]
    allowed = ", ".join(supported)

    def check(declared: Any) -> str:
        if isinstance(declared, bool) or not isinstance(declared, int | str):
            raise refuse(f"must be one of {allowed} (got {declared!r})")
        if str(declared) not in supported:
            raise refuse(f"must be one of {allowed} (got {declared})")
        return str(declared)

    # A stack file holds a major as a number (17) or a string ("17"), a MariaDB release as a string.
    in_a_stack_file: list[int | str] = []
    for version in supported:
        in_a_stack_file += [int(version), version] if version.isdigit() else [version]
    return Annotated[str, WithJsonSchema({"enum": in_a_stack_file}), BeforeValidator(check)] | None
