"""Registrations carry only the frame that made them, not the whole call stack.

The Python SDK sends every registration's full call stack (pulumi/runtime/resource.py: `_get_stack_trace`),
and the engine keeps it in the state: here 18 frames per resource, half of them the language host's and
asyncio's, 39% of the state's bytes. The file and S3 backends write the whole state after every step, and
each step of a server's grant chain waits for that write, so the state's size sits on the critical path
of `pulumi up` (docs/performance.md has the profile). The frame kept is the first, which is also the
source position the engine shows: nothing the CLI prints changes.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi.runtime.resource as sdk_resource
from pulumi.runtime.proto import source_pb2

_ORIGINAL: Callable[[], source_pb2.StackTrace] | None = getattr(sdk_resource, "_get_stack_trace", None)


def _registering_frame() -> source_pb2.StackTrace:
    assert _ORIGINAL is not None
    return source_pb2.StackTrace(frames=_ORIGINAL().frames[:1])


def keep_registering_frames_only() -> None:
    """From now on, each registration's stack trace is its first frame (the project code that registered it).
    Does nothing with an SDK that has no `_get_stack_trace`: the state is then only larger."""
    if _ORIGINAL is not None:
        sdk_resource._get_stack_trace = _registering_frame
