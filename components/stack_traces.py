"""Registrations carry only the frame that made them, not the whole call stack.

The Python SDK sends every registration's full call stack (pulumi/runtime/resource.py: `_get_stack_trace`),
and the engine keeps it in the state: here 18 frames per resource, half of them the language host's and
asyncio's, 39% of the state's bytes. The file and S3 backends write the whole state after every step, and
each step of a server's grant chain waits for that write, so the state's size sits on the critical path
of `pulumi up` (docs/performance.md has the profile). The frame kept is the first, which is also the
source position the engine shows: nothing the CLI prints changes.

It is found as the SDK finds it (the caller of the third `__init__` up the stack: Resource's, then
Custom/ComponentResource's, then the concrete resource's), but by walking the frames: the SDK's
`traceback.extract_stack()` reads every frame's source line, 0.12 s of the program at N=0 (cProfile).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from types import FrameType

import pulumi.runtime.resource as sdk_resource
from pulumi.runtime.proto import source_pb2

_ORIGINAL: Callable[[], source_pb2.StackTrace] | None = getattr(sdk_resource, "_get_stack_trace", None)
_POSITION = getattr(sdk_resource, "_get_source_position_for_frame", None)
_RESOURCE_INITS = 3
"""`__init__` frames between a registration and the code that made it (see the module docstring)."""


def _caller_of_resource(frame: FrameType | None) -> FrameType | None:
    seen = 0
    while frame is not None:
        if frame.f_code.co_name == "__init__":
            seen += 1
            if seen == _RESOURCE_INITS:
                return frame.f_back
        frame = frame.f_back
    return None


def _registering_frame() -> source_pb2.StackTrace:
    caller = _caller_of_resource(sys._getframe(1))
    if caller is None or _POSITION is None:
        return source_pb2.StackTrace()
    summary = traceback.FrameSummary(
        caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name, lookup_line=False
    )
    return source_pb2.StackTrace(frames=[source_pb2.StackFrame(pc=_POSITION(summary))])


def keep_registering_frames_only() -> None:
    """From now on, each registration's stack trace is its first frame (the project code that registered it).
    Does nothing with an SDK that has no `_get_stack_trace`: the state is then only larger."""
    if _ORIGINAL is not None and _POSITION is not None:
        sdk_resource._get_stack_trace = _registering_frame
