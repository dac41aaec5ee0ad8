"""The one masker: secret values masked whole, known secrets masked wherever they occur in text."""

from __future__ import annotations

from urllib.parse import quote

from resource_types import PG_ROLE, RANDOM_PASSWORD
from review.capture.plan import Plan
from review.capture.program import Capture, Resource, Secret
from review.capture.redact import MASK, Redactor, masked

GENERATED = "Gen3rated-p@ss/word"
ADMIN = "admin-pass"
LONGER = ADMIN + "-and-more"


def _resource(type_: str, name: str, inputs: dict[str, object], outputs: dict[str, object]) -> Resource:
    return Resource(
        urn=f"urn:pulumi:test::engarde::{type_}::{name}",
        type=type_,
        name=name,
        parent=None,
        custom=True,
        inputs=inputs,
        depends_on=[],
        property_dependencies={},
        provider=None,
        protect=False,
        retain_on_delete=False,
        outputs=outputs,
    )


def _plan() -> Plan:
    password = _resource(RANDOM_PASSWORD, "pw", {"length": 19}, {"result": Secret(GENERATED)})
    role = _resource(PG_ROLE, "role", {"name": "app", "password": Secret(ADMIN), "note": Secret(LONGER)}, {})
    return Plan(Capture(stack="test", resources=[password, role], outputs={}))


def test_a_secret_value_is_masked_whole_at_any_depth() -> None:
    value = {"name": "app", "password": Secret(ADMIN), "env": [Secret({"KEY": "x"}), "plain"]}
    assert masked(value) == {"name": "app", "password": MASK, "env": [MASK, "plain"]}
    assert Redactor(_plan(), show_secrets=True).value(value) == {
        "name": "app", "password": ADMIN, "env": [{"KEY": "x"}, "plain"],
    }  # fmt: skip


def test_text_masks_each_known_secret_and_its_url_encoding_the_longest_first() -> None:
    redactor = Redactor(_plan(), show_secrets=False)
    url = f"postgresql://app:{quote(GENERATED, safe='')}@main:5432/engarde"
    assert redactor.text(url) == f"postgresql://app:{MASK}@main:5432/engarde"
    assert redactor.text(f"{LONGER} then {ADMIN}.") == f"{MASK} then {MASK}."
    assert redactor.text(f"{GENERATED}{ADMIN}") == MASK + MASK
    assert redactor.text("nothing secret here") == "nothing secret here"
    assert Redactor(_plan(), show_secrets=True).text(url) == url
