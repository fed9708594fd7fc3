"""A plain grpc.aio TestService: the "Server features" of gRPC's interop-test-descriptions.md
(EmptyCall, UnaryCall, StreamingInputCall, StreamingOutputCall, FullDuplexCall, Echo Status,
Echo Metadata, interval_us), written against the grpc_tools servicer and nothing of
runtime_lib, so the bridge's client meets a peer it did not shape.

``started`` and ``ended`` are events, per method: a call reached the servicer, and a call ended
on the server (the cancel_* cases, whose callers never half-close, assert that the cancel
reached the server: only it can end such a call; grpc.aio's ``cancelled()`` does not report it).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import grpc

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"


class PlainTestService:
    """Methods of ``TestServiceServicer`` (the grpc_tools base class is mixed in by
    :func:`servicer`, since it is generated per test session)."""

    def __init__(self, pb2: Any) -> None:
        self.pb2 = pb2
        self.started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.ended: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def _watch(self, method: str, context: Any) -> None:
        """Note the call's start now, and its end when it ends."""
        self.started[method].set()
        context.add_done_callback(lambda _: self.ended[method].set())

    async def _echo_metadata(self, context: Any) -> None:
        incoming = dict(context.invocation_metadata() or ())
        if ECHO_INITIAL in incoming:
            await context.send_initial_metadata(((ECHO_INITIAL, incoming[ECHO_INITIAL]),))
        if ECHO_TRAILING in incoming:
            context.set_trailing_metadata(((ECHO_TRAILING, incoming[ECHO_TRAILING]),))

    async def _echo_status(self, request: Any, context: Any) -> None:
        if request.HasField("response_status") and request.response_status.code != 0:
            await context.abort(
                grpc.StatusCode(_status(request.response_status.code)),
                request.response_status.message,
            )

    def _payload(self, size: int) -> Any:
        return self.pb2.Payload(body=bytes(size))

    async def EmptyCall(self, request: Any, context: Any) -> Any:
        return self.pb2.Empty()

    async def UnaryCall(self, request: Any, context: Any) -> Any:
        await self._echo_metadata(context)
        await self._echo_status(request, context)
        return self.pb2.SimpleResponse(payload=self._payload(request.response_size))

    async def StreamingInputCall(self, requests: AsyncIterator[Any], context: Any) -> Any:
        self._watch("StreamingInputCall", context)
        total = 0
        async for request in requests:
            total += len(request.payload.body)
        return self.pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    async def StreamingOutputCall(self, request: Any, context: Any) -> AsyncIterator[Any]:
        await self._echo_status(request, context)
        for parameters in request.response_parameters:
            await _pause(parameters.interval_us)
            yield self.pb2.StreamingOutputCallResponse(payload=self._payload(parameters.size))

    async def FullDuplexCall(
        self, requests: AsyncIterator[Any], context: Any
    ) -> AsyncIterator[Any]:
        await self._echo_metadata(context)
        self._watch("FullDuplexCall", context)
        async for request in requests:
            await self._echo_status(request, context)
            for parameters in request.response_parameters:
                await _pause(parameters.interval_us)
                yield self.pb2.StreamingOutputCallResponse(payload=self._payload(parameters.size))


def _status(code: int) -> tuple[int, str]:
    """The ``grpc.StatusCode`` value (a (number, name) pair) for a numeric code."""
    for status in grpc.StatusCode:
        if status.value[0] == code:
            value: tuple[int, str] = status.value
            return value
    raise ValueError(f"no gRPC status {code}")


async def _pause(interval_us: int) -> None:
    if interval_us:
        await asyncio.sleep(interval_us / 1_000_000)  # the feature itself: a delay, asked for


def servicer(plain: Any, pb2: Any) -> PlainTestService:
    """A PlainTestService that is also the generated ``TestServiceServicer``."""
    cls = type("Servicer", (PlainTestService, plain.TestServiceServicer), {})
    made: PlainTestService = cls(pb2)
    return made
