"""The SDK's debug messages reach the engine without holding up the program.

The Python SDK sends the engine a debug message at each step of each registration, invoke and output
(pulumi/log.py `debug`, called from pulumi/runtime/resource.py, invoke.py and rpc.py): one blocking gRPC call
each, made on the event loop, so the program waits for the engine's answer to every one before it goes on.
At N = 0 that is 766 calls, 0.6 s of the program's 1.6 s in a `preview` (cProfile; docs/performance.md). The
engine shows them only under `--debug` or `-v`. Here one thread sends them, in order, with the same call, and
the loop goes on; what is still queued when the program ends is sent before it exits (`FLUSH_SECONDS` at most).
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
from typing import Any

import pulumi.log as sdk_log
from pulumi.runtime import settings
from pulumi.runtime.proto import engine_pb2

FLUSH_SECONDS = 5.0
_SDK_DEBUG = sdk_log.debug


class DebugMessageSender:
    """Sends the SDK's debug messages to the engine from a thread of its own, in the order they were made."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Any, engine_pb2.LogRequest] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._send_queued, name="sdk-debug-messages", daemon=True)
        self._thread.start()

    def _send_queued(self) -> None:
        while (item := self._queue.get()) is not None:
            engine, request = item
            # A debug message the engine no longer takes (it is shutting down) fails nothing.
            with contextlib.suppress(Exception):
                engine.Log(request)

    def debug(
        self, msg: str, resource: Any = None, stream_id: int | None = None, ephemeral: bool | None = None
    ) -> None:
        """`pulumi.log.debug`, queued."""
        engine = settings.get_engine()
        if engine is None or resource is not None:
            # No engine (the SDK then prints nothing either), or a message whose URN the SDK resolves first.
            _SDK_DEBUG(msg, resource, stream_id, ephemeral)
            return
        request = engine_pb2.LogRequest(
            severity=engine_pb2.DEBUG, message=msg, urn="", streamId=stream_id or 0, ephemeral=bool(ephemeral)
        )
        self._queue.put((engine, request))

    def flush(self, timeout: float = FLUSH_SECONDS) -> None:
        """Sends what is queued and stops the thread (waits `timeout` seconds at most)."""
        self._queue.put(None)
        self._thread.join(timeout=timeout)


def send_debug_messages_without_waiting() -> None:
    """From now on, the SDK's debug messages go through one `DebugMessageSender` (see the module docstring)."""
    if not isinstance(getattr(sdk_log.debug, "__self__", None), DebugMessageSender):
        sender = DebugMessageSender()
        sdk_log.debug = sender.debug
        atexit.register(sender.flush)
