"""A container PostgreSQL server's major version against what its data volume holds (the stack's previous
outputs): the same major keeps the volume, another is refused unless `allowMajorUpgrade`, which moves the
server and its replicas to new volumes; the same line in the program (`pulumi preview`, under mocks) and in
`review plan --outputs`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from resource_types import VOLUME
from review import __main__ as cli
from review.capture.program import run_program
from tests.conftest import stack_file_config
from topology import ConfigError, load_topology
from topology.upgrades import RUNBOOK, data_volume_prefix, deployed_data

NETWORK = "engarde-dev"


def on(image: str, **main: Any) -> dict[str, Any]:
    return {"servers": {"main": {"image": image, **main}}}


def recorded(major: str, volume: str = f"{NETWORK}-main-data") -> dict[str, Any]:
    """The stack's outputs as an update with main on `volume` holding `major`'s data left them."""
    return {"servers": {"main": {"engine": "postgresql", "data": {"postgresMajor": major, "volume": volume}}}}


def main_volumes(config: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, str]:
    """Logical name -> Docker volume name of main's and its replicas' data volumes, as the program registers them."""
    capture = run_program(config, "dev", deployed_outputs=outputs)
    return {
        r.name: r.inputs["name"]
        for r in capture.resources
        if r.type == VOLUME and r.name.startswith("main") and r.name.endswith("-data")
    }


def test_a_first_update_runs_on_the_first_volume_and_records_the_major() -> None:
    topology = load_topology(on("postgres:15.8"), "dev")
    assert topology.servers["main"].data is not None
    assert (topology.servers["main"].data.major, topology.servers["main"].data.volume_suffix) == ("15", "")
    capture = run_program(on("postgres:15.8"), "dev")
    assert capture.outputs["servers"]["main"]["data"] == {"postgresMajor": "15", "volume": f"{NETWORK}-main-data"}
    assert "data" not in capture.outputs["servers"]["scheduler"]


def test_the_same_major_keeps_the_volume_the_last_update_recorded() -> None:
    outputs = recorded("17", f"{NETWORK}-main-data-17")
    assert main_volumes(on("postgres:17.2"), outputs) == {"main-data": f"{NETWORK}-main-data-17"}
    assert load_topology(on("postgres:17.6"), "dev", None, outputs).notices == ()


def test_a_minor_change_is_no_major_change() -> None:
    assert main_volumes(on("postgres:15.10"), recorded("15")) == {"main-data": f"{NETWORK}-main-data"}


def test_another_major_on_the_recorded_data_is_refused_naming_the_key_and_the_way_through() -> None:
    with pytest.raises(ConfigError) as error:
        load_topology(on("postgres:17.2"), "dev", None, recorded("15"))
    assert error.value.key == "servers.main.image"
    message = str(error.value)
    assert "\n" not in message
    assert "runs PostgreSQL 17, but its data volume holds PostgreSQL 15's data" in message
    assert "servers.main.allowMajorUpgrade: true" in message and RUNBOOK in message


def test_a_declared_image_version_counts_as_the_major() -> None:
    with pytest.raises(ConfigError, match="runs PostgreSQL 16, but its data volume holds PostgreSQL 15's"):
        load_topology(on("registry.example/pg:2024.1", imageVersion=16), "dev", None, recorded("15"))


def test_allowed_the_server_and_its_replicas_move_to_new_volumes_with_a_warning() -> None:
    config = on("postgres:17.2", allowMajorUpgrade=True, replicas=[{"hostPort": 5440}])
    assert main_volumes(config, recorded("15")) == {
        "main-data": f"{NETWORK}-main-data-17",
        "main-replica-1-data": f"{NETWORK}-main-replica-1-data-17",
    }
    (warning,) = load_topology(config, "dev", None, recorded("15")).notices
    assert warning.startswith("warning: engarde:servers.main moves from PostgreSQL 15 to 17 on new, empty data")
    capture = run_program(config, "dev", deployed_outputs=recorded("15"))
    assert capture.outputs["servers"]["main"]["data"] == {"postgresMajor": "17", "volume": f"{NETWORK}-main-data-17"}


def test_after_the_upgrade_the_new_volume_stays_and_the_flag_is_flagged_as_left_over() -> None:
    after = recorded("17", f"{NETWORK}-main-data-17")
    topology = load_topology(on("postgres:17.2", allowMajorUpgrade=True), "dev", None, after)
    assert topology.servers["main"].data is not None and topology.servers["main"].data.volume_suffix == "-17"
    assert topology.notices == (
        "notice: engarde:servers.main.allowMajorUpgrade has no major change to allow "
        "(the data is PostgreSQL 17's): remove it",
    )


def test_allow_major_upgrade_is_a_postgresql_container_setting() -> None:
    with pytest.raises(ConfigError) as error:
        load_topology({"servers": {"scheduler": {"allowMajorUpgrade": True}}}, "dev")
    assert error.value.key.startswith("servers.scheduler")
    with pytest.raises(ConfigError, match=r"servers\.main\.allowMajorUpgrade"):
        load_topology(on("postgres:17.2", allowMajorUpgrade="yes"), "dev")


def test_outputs_without_a_record_are_a_first_update() -> None:
    assert deployed_data({}, NETWORK) == {}
    assert deployed_data({"servers": {"main": {"engine": "postgresql"}}}, NETWORK) == {}
    # A record of a volume that is not this stack's (another network) is not read as one.
    assert deployed_data(recorded("15", "engarde-prod-main-data"), NETWORK) == {}
    assert data_volume_prefix(NETWORK, "flowdb") == f"{NETWORK}-flowdb-data"


def test_the_program_and_review_plan_refuse_with_the_same_line(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError) as program:
        run_program({**stack_file_config("dev"), **on("postgres:17.2")}, "dev", deployed_outputs=recorded("15"))
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(recorded("15")))
    argv = ["plan", "--stack", "dev", "--set", "servers.main.image=postgres:17.2", "--outputs", str(outputs_file)]
    code = cli.main(argv, out=io.StringIO(), err=(err := io.StringIO()))
    assert code != 0
    assert err.getvalue() == f"{program.value}\n"
    # Without the deployed outputs, review plan cannot know the volume's major: the plan renders.
    assert cli.main(argv[:-2], out=io.StringIO(), err=io.StringIO()) == 0


def test_an_image_version_contradicting_the_official_tag_is_refused() -> None:
    with pytest.raises(ConfigError) as error:
        load_topology(on("engarde.local/postgres:17.10", imageVersion=15), "dev")
    assert str(error.value) == (
        "engarde:servers.main.imageVersion: is 15, but image 'engarde.local/postgres:17.10' runs 17"
    )
