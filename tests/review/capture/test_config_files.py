"""Stack config as `pulumi` assembles it: Pulumi.yaml defaults, the stack file, then `--set` paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from review.capture import config_files
from review.capture.config_files import ConfigFileError


def project(tmp_path: Path, stack_config: dict[str, Any], **project_extra: Any) -> Path:
    """A project directory with a Pulumi.yaml declaring two defaults and a stack `test`."""
    document = {
        "name": "engarde",
        "runtime": "python",
        "config": {
            "engarde:langflowPlacement": {"type": "string", "default": "dedicated"},
            "engarde:protect": {"type": "boolean", "default": False},
            "docker:host": {"type": "string", "default": "unix:///var/run/docker.sock"},
        },
        **project_extra,
    }
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(document))
    directory = tmp_path / str(project_extra.get("stackConfigDir", "."))
    directory.mkdir(exist_ok=True)
    (directory / "Pulumi.test.yaml").write_text(yaml.safe_dump({"config": stack_config}))
    return tmp_path


def test_defaults_then_stack_file_then_each_set_in_order(tmp_path: Path) -> None:
    directory = project(tmp_path, {"engarde:protect": True, "engarde:servers": {"main": {"hostPort": 5432}}})
    config = config_files.load("test", ["servers.main.hostPort=6000", "servers.main.hostPort=6001"], directory)
    assert config.values == {
        "langflowPlacement": "dedicated",
        "protect": "true",  # a top-level scalar reaches the program as a string
        "servers": {"main": {"hostPort": 6001}},
    }


def test_other_namespaces_do_not_reach_the_program(tmp_path: Path) -> None:
    directory = project(tmp_path, {"docker:host": "ssh://builder"})
    assert "host" not in config_files.load("test", [], directory).values
    with pytest.raises(ConfigFileError, match="only engarde: keys"):
        config_files.load("test", ["docker:host=ssh://other"], directory)


def test_stack_config_dir_is_honoured(tmp_path: Path) -> None:
    directory = project(tmp_path, {"engarde:protect": True}, stackConfigDir="stacks")
    assert config_files.load("test", [], directory).values["protect"] == "true"


def test_secure_values_become_placeholders_naming_their_key(tmp_path: Path) -> None:
    stack = {
        "engarde:mainAdminPassword": {"secure": "v1:abc"},
        "engarde:services": {"crm": {"image": "crm:1", "token": {"secure": "v1:def"}}},
    }
    config = config_files.load("test", [], project(tmp_path, stack))
    assert config.values["mainAdminPassword"] == "[secure value: engarde:mainAdminPassword]"
    assert config.values["services"]["crm"]["token"] == "[secure value: engarde:services.crm.token]"
    assert config.secret_keys == {"mainAdminPassword", "services"}
    assert len(config.notes) == 2


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("langflowPlacement", ["langflowPlacement"]),
        ("servers.main.hostPort", ["servers", "main", "hostPort"]),
        ("services.my-crm.reads[1]", ["services", "my-crm", "reads", 1]),
        ('images["a.b"]', ["images", "a.b"]),
    ],
)
def test_config_paths_read_like_pulumi_config_set_path(path: str, segments: list[str | int]) -> None:
    assert config_files.parse_path(path) == segments


@pytest.mark.parametrize("path", ["servers..main", "servers.", "[0]", "servers.main]"])
def test_malformed_config_paths_are_refused(path: str) -> None:
    with pytest.raises(ConfigFileError):
        config_files.parse_path(path)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("55432", 55432),
        ("-3", -3),
        ("true", True),
        ("false", False),
        ("False", "False"),  # only the exact words are booleans
        ("1.5", "1.5"),  # only integers become numbers
        ("null", "null"),
        ("'55432'", "'55432'"),  # quotes are kept, as pulumi keeps them
        ("0755", "0755"),  # a leading zero keeps the string (zip codes, octal modes)
        ("0", 0),
        ("99999999999999999999", "99999999999999999999"),  # beyond int64
        ("on", "on"),
        ("postgres:15.8", "postgres:15.8"),
    ],
)
def test_nested_set_values_are_typed_like_pulumi_config_set_path(text: str, value: object) -> None:
    assert config_files.parse_scalar(text) == value
    assert type(config_files.parse_scalar(text)) is type(value)


def test_top_level_values_stay_strings_as_pulumi_passes_them(tmp_path: Path) -> None:
    config = config_files.load(
        "test",
        ["langflowSuperuser=123", "schedulerBaseUrl=null", "servers.main.hostPort=55432"],
        project(tmp_path, {"engarde:protect": True, "engarde:langflowSuperuser": 7}),
    )
    assert config.values["langflowSuperuser"] == "123"
    assert config.values["schedulerBaseUrl"] == "null"
    assert config.values["protect"] == "true"
    assert config.values["servers"] == {"main": {"hostPort": 55432}}


def test_a_list_index_past_the_end_is_refused_like_pulumi(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as raised:
        config_files.load("test", ["services.crm.reads[1]=madansara"], project(tmp_path, {}))
    assert str(raised.value) == (
        "--set services.crm.reads[1]: index 1 is past the end of services.crm.reads (0 items): "
        "set services.crm.reads[0] first"
    )
    config = config_files.load(
        "test", ["services.crm.reads[0]=a", "services.crm.reads[1]=b", "services.crm.reads[0]=c"],
        project(tmp_path, {}),
    )  # fmt: skip
    assert config.values["services"]["crm"]["reads"] == ["c", "b"]


def test_set_builds_objects_and_lists_and_keeps_passwords_verbatim(tmp_path: Path) -> None:
    config = config_files.load(
        "test",
        ["services.crm.image=crm:1", "services.crm.reads[0]=madansara", "mainAdminPassword=12345"],
        project(tmp_path, {}),
    )
    assert config.values["services"] == {"crm": {"image": "crm:1", "reads": ["madansara"]}}
    assert config.values["mainAdminPassword"] == "12345"
    assert config.secret_keys == {"mainAdminPassword"}


def test_set_into_a_scalar_is_refused_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="langflowPlacement is not an object"):
        config_files.load("test", ["langflowPlacement.mode=x"], project(tmp_path, {}))


# Read as the Pulumi CLI reads it (YAML 1.2 booleans, yaml.v3's numbers; tests/e2e/test_config_reading.py holds
# the whole table against the built CLI) ---------------------------------------------------------------------


def _stack_text(tmp_path: Path, text: str) -> Path:
    directory = project(tmp_path, {})
    (directory / "Pulumi.test.yaml").write_text(text)
    return directory


@pytest.mark.parametrize(
    ("written", "top_level", "nested"),
    [
        ("yes", "yes", "yes"),
        ("off", "off", "off"),
        ("True", "true", True),
        ("0o17", "15", 15),
        ("017", "15", 15),
        ("0x1F", "31", 31),
        ("1_000", "1000", 1000),
        ("1.0", "1", 1),
        ("0.00001", "0.00001", 0.00001),
        ("~", "", None),
        ('""', "", ""),
        ("2024-01-01", "2024-01-01 00:00:00 +0000 UTC", "2024-01-01 00:00:00 +0000 UTC"),
    ],
)
def test_values_read_as_pulumi_reads_them(tmp_path: Path, written: str, top_level: str, nested: object) -> None:
    text = f"config:\n  engarde:protect: {written}\n  engarde:servers:\n    main:\n      x: {written}\n"
    values = config_files.load("test", [], _stack_text(tmp_path, text)).values
    assert values["protect"] == top_level
    assert values["servers"]["main"]["x"] == nested


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("config:\n  engarde:protect: true\n  engarde:protect: false\n",
         r'\(line 3\): mapping key "engarde:protect" already defined at line 2'),
        ("config:\n  engarde:servers:\n    main: {hostPort: 1, hostPort: 2}\n",
         r'\(line 3\): mapping key "hostPort" already defined at line 3'),
        ("config:\n  engarde:servers: {main: {hostPort: .inf}}\n", r"\(line 2\): \.inf is not a value Pulumi can pass"),
    ],
    ids=["duplicate key", "duplicate nested key", "infinity"],
)  # fmt: skip
def test_what_the_cli_refuses_is_refused_with_its_line(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigFileError, match=r"^Pulumi\.test\.yaml " + says):
        config_files.load("test", [], _stack_text(tmp_path, text))


def test_a_merge_key_may_be_overridden(tmp_path: Path) -> None:
    text = "base: &base {hostPort: 1}\nconfig:\n  engarde:servers:\n    main:\n      <<: *base\n      hostPort: 2\n"
    assert config_files.load("test", [], _stack_text(tmp_path, text)).values["servers"] == {"main": {"hostPort": 2}}


def test_the_keys_of_other_namespaces_and_the_secret_ones_reach_the_programs_validation(tmp_path: Path) -> None:
    stack = {"engrade:protect": True, "engarde:mainAdminPassword": {"secure": "v1:abc"}, "engarde:protect": True}
    origin = config_files.load("test", [], project(tmp_path, stack)).origin()
    assert origin.other_keys == {"engrade:protect", "docker:host"}
    assert origin.secret_keys == {"mainAdminPassword"}
