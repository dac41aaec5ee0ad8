"""The audit table's dynamic provider and states written by the earlier, pickled-by-reference one."""

from __future__ import annotations

import dill  # type: ignore[import-untyped]

from components.sql_script import sql_script_provider

# `serialize_provider` of the earlier provider, as a state holds it: a reference to
# `components.sql_script._SqlScriptProvider` (STACK_GLOBAL) instantiated with no arguments (NEWOBJ).
EARLIER_STATE_PICKLE = (
    b"\x80\x04\x953\x00\x00\x00\x00\x00\x00\x00\x8c\x15components.sql_script\x94"
    b"\x8c\x12_SqlScriptProvider\x94\x93\x94)\x81\x94."
)
EARLIER_PROPS = {"host": "db", "port": 5432, "user": "postgres", "password": "pw", "database": "d",
                 "sslmode": "require", "sql": "CREATE TABLE IF NOT EXISTS t ()"}  # fmt: skip


def test_a_state_from_the_earlier_provider_still_refreshes_and_deletes() -> None:
    provider = dill.loads(EARLIER_STATE_PICKLE)
    assert type(provider) is type(sql_script_provider())
    # No `exists_query` in that state: refresh keeps the resource (nothing to check with, no connection).
    read = provider.read("abc", EARLIER_PROPS)
    assert (read.id, read.outs) == ("abc", EARLIER_PROPS)
    provider.delete("abc", EARLIER_PROPS)  # never drops anything


def test_the_next_update_from_such_a_state_adds_the_query() -> None:
    news = {**EARLIER_PROPS, "exists_query": "SELECT 1"}
    assert sql_script_provider().diff("abc", EARLIER_PROPS, news).changes is True
