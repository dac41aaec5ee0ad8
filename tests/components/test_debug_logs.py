"""The SDK's debug messages go to the engine from a thread, in order, without the program waiting for them."""

from __future__ import annotations

import threading
from typing import Any

import pulumi.log as sdk_log
import pytest
from pulumi.runtime import settings
from pulumi.runtime.proto import engine_pb2

from components.debug_logs import DebugMessageSender, send_debug_messages_without_waiting


class SlowEngine:
    """An engine whose `Log` answers only once `answer` is set, as a busy engine answers late."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.received: list[tuple[int, str]] = []

    def Log(self, request: engine_pb2.LogRequest) -> None:  # noqa: N802 - the gRPC stub's name
        assert self.answer.wait(timeout=10), "the test never let the engine answer"
        self.received.append((request.severity, request.message))


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> SlowEngine:
    slow = SlowEngine()
    monkeypatch.setattr(settings, "get_engine", lambda: slow)
    return slow


def test_a_debug_message_does_not_wait_for_the_engine_and_all_arrive_in_order(engine: SlowEngine) -> None:
    sender = DebugMessageSender()
    for number in range(50):
        sender.debug(f"message {number}")
    # Nothing has been answered yet, and the program already went on.
    assert engine.received == []
    engine.answer.set()
    sender.flush()
    assert engine.received == [(engine_pb2.DEBUG, f"message {number}") for number in range(50)]


def test_a_message_about_a_resource_goes_the_sdks_own_way(engine: SlowEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[tuple[str, Any]] = []
    monkeypatch.setattr("components.debug_logs._SDK_DEBUG", lambda msg, resource, *_: taken.append((msg, resource)))
    sender = DebugMessageSender()
    resource = object()
    sender.debug("about a resource", resource)
    sender.flush()
    assert taken == [("about a resource", resource)]
    assert engine.received == []


def test_only_debug_is_rerouted_and_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk_log, "debug", sdk_log.debug)
    monkeypatch.setattr("atexit.register", lambda _: None)
    info, warn = sdk_log.info, sdk_log.warn
    send_debug_messages_without_waiting()
    installed = sdk_log.debug
    send_debug_messages_without_waiting()
    assert isinstance(getattr(installed, "__self__", None), DebugMessageSender)
    assert sdk_log.debug is installed
    assert (sdk_log.info, sdk_log.warn) == (info, warn)
