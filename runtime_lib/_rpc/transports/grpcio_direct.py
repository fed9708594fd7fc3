"""Unary calls on the call object grpc.aio itself drives, awaited in the caller's own task: the one
place the runtime reaches below grpc.aio's public API (decision 0015).

Why: ``grpc.aio`` runs every unary call in an asyncio Task of its own (``UnaryUnaryCall._invoke``)
inside a Python call object that the channel tracks in a WeakSet, and the caller's task waits
for that Task. Awaiting the Cython call grpc.aio creates underneath (``AioChannel.call`` then
``_AioCall.unary_unary``) sends the same request with the same deadline and metadata, in one
batch as grpc.aio does, for ~90k fewer instructions of the ~295k a grpc.aio unary call with a
deadline and one metadata entry costs its client (callgrind); the runtime's whole client call went
from 328k to 244k (bench/results/instructions.md).

Only what grpc.aio's own ``_call.py`` and ``_channel.py`` use is used, and only for unary calls.
What grpc.aio's call object did besides is done here: a cancelled caller cancels the call in
gRPC's core, and closing the connection cancels the calls still open (``close_all``). A grpcio
without this API, or whose call signatures changed (a ``TypeError`` before anything is sent),
gets the public path (``usable`` is then False and a warning says so once).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import grpc

log = logging.getLogger("runtime_lib.rpc")

_CALL_API = (
    "unary_unary",
    "cancel",
    "done",
    "is_locally_cancelled",
    "_status",
    "_initial_metadata",
)
_STATUS_API = ("code", "details", "trailing_metadata")

STATUS_CODES: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}
"""gRPC core's status number to grpc's enum (the Cython status holds the number)."""

CANCELLED = "Locally cancelled by application!"
"""The cancellation detail of a call whose caller was cancelled (what grpc.aio sends)."""

CLOSED = "the connection was closed"
"""The cancellation detail of calls open when their connection closes."""


def _api_present() -> bool:
    try:
        cygrpc: Any = importlib.import_module("grpc._cython.cygrpc")  # no type stubs
    except ImportError:
        return False
    return (
        hasattr(cygrpc, "AioChannel")
        and hasattr(cygrpc.AioChannel, "call")
        and all(hasattr(cygrpc._AioCall, name) for name in _CALL_API)
        and all(hasattr(cygrpc.AioRpcStatus, name) for name in _STATUS_API)
    )


usable = _api_present()
"""Whether unary calls take the direct path in this process."""


def give_up(exc: BaseException) -> None:
    """The direct path failed before sending anything: use grpc.aio's public one from now on."""
    global usable
    if usable:
        usable = False
        log.warning(
            "grpcio %s changed the call API sb-gen's fast unary path uses (%s: %s); unary "
            "calls now go through grpc.aio's public API, which costs more CPU per call. "
            "Report it with your grpcio version.",
            grpc.__version__,
            type(exc).__name__,
            exc,
        )


def cython_channel(channel: grpc.aio.Channel) -> Any:
    """The Cython channel under ``channel``, or None when the direct path is not usable."""
    return getattr(channel, "_channel", None) if usable else None


def close_all(calls: set[Any]) -> None:
    """Cancel the calls still open on a connection that closes, as grpc.aio's ``close()`` does
    for its own: their callers raise ``CancelledError``."""
    for call in list(calls):
        if not call.done():
            call.cancel(CLOSED)
    calls.clear()
