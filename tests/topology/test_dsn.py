"""DSNs that libpq accepts, whatever the credentials contain."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from topology.dsn import postgres_url, redis_url

HOSTILE = "p@ss:w/rd?#%&=+ []{}'\"\\é"


def test_search_path_options_are_encoded_so_libpq_accepts_them() -> None:
    url = postgres_url(user="madansara_user", password="pw", host="db", port=5432, database="railway",
                       search_path=("madansara", "public"))  # fmt: skip
    assert url == "postgresql://madansara_user:pw@db:5432/railway?options=-c%20search_path%3Dmadansara%2Cpublic"
    assert conninfo_to_dict(url)["options"] == "-c search_path=madansara,public"


def test_the_unencoded_options_form_is_what_libpq_rejects() -> None:
    with pytest.raises(psycopg.ProgrammingError, match="extra key/value separator"):
        conninfo_to_dict("postgresql://u:pw@db:5432/railway?options=-c%20search_path=madansara,public")


def test_any_credentials_round_trip() -> None:
    url = postgres_url(user="odd user@x", password=HOSTILE, host="db", port=6432, database="railway",
                       sslmode="require")  # fmt: skip
    parsed = conninfo_to_dict(url)
    assert (parsed["user"], parsed["password"], parsed["port"], parsed["sslmode"]) == (
        "odd user@x", HOSTILE, "6432", "require",
    )  # fmt: skip


def test_redis_url_encodes_the_password() -> None:
    url = redis_url(password="a/b@c:d", host="redis", port=6379)
    assert url == "redis://:a%2Fb%40c%3Ad@redis:6379/0"
