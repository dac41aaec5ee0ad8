"""The one frame a registration carries is the first of the SDK's own stack trace, found without it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi.runtime.proto import source_pb2

from components.stack_traces import _ORIGINAL, _registering_frame

assert _ORIGINAL is not None
SDK_STACK_TRACE: Callable[[], source_pb2.StackTrace] = _ORIGINAL
"""The SDK's own `_get_stack_trace`, as the module found it before it replaced it."""


class Resource:
    def __init__(self, trace: Callable[[], source_pb2.StackTrace]) -> None:
        self.trace = trace()


class CustomResource(Resource):
    def __init__(self, trace: Callable[[], source_pb2.StackTrace]) -> None:
        super().__init__(trace)


class Role(CustomResource):
    def __init__(self, trace: Callable[[], source_pb2.StackTrace]) -> None:
        super().__init__(trace)


def register(trace: Callable[[], source_pb2.StackTrace]) -> Any:
    return Role(trace).trace


def test_the_frame_kept_is_the_sdks_first_the_code_that_made_the_resource() -> None:
    ours, sdks = register(_registering_frame), register(SDK_STACK_TRACE)
    assert len(ours.frames) == 1
    assert ours.frames[0] == sdks.frames[0]
    assert ours.frames[0].pc.uri.endswith("/tests/components/test_stack_traces.py")


def test_without_three_constructors_there_is_no_frame_as_with_the_sdk() -> None:
    assert list(CustomResource(_registering_frame).trace.frames) == []
    assert list(CustomResource(SDK_STACK_TRACE).trace.frames) == []
