"""Every generated value is accepted by what consumes it (mock values follow the resources' own rules)."""

from __future__ import annotations

import base64
import hashlib
import re
import string

import pytest
from cryptography.fernet import Fernet
from psycopg.conninfo import conninfo_to_dict
from redis.connection import parse_url

from resource_types import MYSQL_USER
from review.capture.program import Capture, fabricate_password, unwrap_secrets
from tests.graph import PASSWORD, ROLE, env_of, inputs, server_of
from topology.scram import is_verifier_of

STACKS = ["dev", "prod", "shared"]


def langflow_ensure_fernet_key(secret_key: str) -> bytes:
    """Langflow 1.13.0's own key handling before `Fernet(...)` (langflow/services/auth/utils.py:
    `ensure_fernet_key` and `add_base64_padding`, called by `get_fernet`): a key of 32+ characters is
    padded with `=` up to a multiple of 4 (none when it is one already) and used as is; a shorter one is
    hashed with SHA-256 instead."""
    if len(secret_key) < 32:
        return base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest())
    return (secret_key + "=" * (-len(secret_key) % 4)).encode()


def generated(result: Capture, name: str) -> str:
    resource = next(r for r in result.resources if r.type == PASSWORD and r.name == name)
    return str(unwrap_secrets(resource.outputs)["result"])


@pytest.mark.parametrize("stack", STACKS)
def test_langflow_secret_key_is_a_fernet_key(stack: str, request: pytest.FixtureRequest) -> None:
    result: Capture = request.getfixturevalue(stack)
    key = env_of(result, "langflow-server")["LANGFLOW_SECRET_KEY"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}=", key), "32 bytes in url-safe base64"
    token = Fernet(langflow_ensure_fernet_key(key)).encrypt(b"an API key Langflow stores")
    assert Fernet(key).decrypt(token) == b"an API key Langflow stores"


def test_the_old_64_character_key_is_what_langflow_rejects() -> None:
    """Why the key changed: 64 alphanumerics decode to 48 bytes, and every credential save failed."""
    with pytest.raises(ValueError, match="32 url-safe base64-encoded bytes"):
        Fernet(langflow_ensure_fernet_key(string.ascii_letters[:32] * 2))


@pytest.mark.parametrize("stack", STACKS)
def test_scheduler_password_is_alphanumeric_for_easyappointments(stack: str, request: pytest.FixtureRequest) -> None:
    result: Capture = request.getfixturevalue(stack)
    password = env_of(result, "egm-scheduler")["DB_PASSWORD"]
    # The image writes it with `sed` into a single-quoted PHP string: nothing but letters and digits.
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password)
    users = {inputs(r)["user"]: r for r in result.resources if r.type == MYSQL_USER}
    user = users["scheduler_user"]
    assert inputs(user)["plaintextPassword"] == password


@pytest.mark.parametrize("stack", STACKS)
def test_redis_urls_carry_the_password_redis_py_reads_back(stack: str, request: pytest.FixtureRequest) -> None:
    result: Capture = request.getfixturevalue(stack)
    password = generated(result, "redis-password")
    assert set(password) - set(string.ascii_letters + string.digits), "the fabricated password has specials"
    urls = [env_of(result, "backend")["REDIS_URL"], env_of(result, "langflow-server")["LANGFLOW_REDIS_URL"]]
    for url in urls:
        parsed = parse_url(url)  # type: ignore[no-untyped-call]
        assert (parsed["password"], parsed["host"], parsed["port"], parsed.get("db", 0)) == (password, "redis", 6379, 0)


@pytest.mark.parametrize("stack", STACKS)
def test_every_dsn_gives_libpq_its_roles_password(stack: str, request: pytest.FixtureRequest) -> None:
    result: Capture = request.getfixturevalue(stack)
    passwords = {
        (server_of(result, r), inputs(r)["name"]): inputs(r)["password"]
        for r in result.by_type(ROLE)
        if inputs(r)["login"]
    }
    servers = unwrap_secrets(result.outputs["servers"])
    by_host = {(s["serviceHost"], s["servicePort"]): name for name, s in servers.items()}
    checked = 0
    for service in unwrap_secrets(result.outputs["services"]).values():
        for value in service["env"].values():
            if value.startswith("postgresql://"):
                parsed = conninfo_to_dict(value)
                server = by_host[(parsed["host"], int(str(parsed["port"])))]
                assert is_verifier_of(str(passwords[(server, parsed["user"])]), str(parsed["password"]))
                checked += 1
    assert checked >= 10


@pytest.mark.parametrize("stack", STACKS)
def test_fabricated_passwords_follow_each_resources_rules(stack: str, request: pytest.FixtureRequest) -> None:
    """The mocks' values obey length, character classes, overrideSpecial and minimums, as the
    provider's would: otherwise the checks above would prove nothing."""
    result: Capture = request.getfixturevalue(stack)
    for resource in result.by_type(PASSWORD):
        rules = inputs(resource)
        value = str(unwrap_secrets(resource.outputs)["result"])
        assert len(value) == rules["length"], resource.name
        specials = str(rules.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?") if rules.get("special") else ""
        assert set(value) <= set(string.ascii_letters + string.digits + specials), resource.name
        for minimum, alphabet in (("minUpper", string.ascii_uppercase), ("minLower", string.ascii_lowercase),
                                  ("minNumeric", string.digits)):  # fmt: skip
            assert sum(c in alphabet for c in value) >= float(str(rules.get(minimum, 0))), (resource.name, minimum)


def test_fabrication_honours_a_restricted_special_set() -> None:
    for _ in range(50):
        value = fabricate_password({"length": 12, "special": True, "overrideSpecial": "-_", "minSpecial": 3})
        assert len(value) == 12 and sum(c in "-_" for c in value) >= 3
        assert set(value) <= set(string.ascii_letters + string.digits + "-_")
