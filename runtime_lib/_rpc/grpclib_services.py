"""The standard gRPC health and reflection services on the grpclib server.

grpclib ships its own copies of both, but their ``_pb2`` modules register the same proto
symbols as grpcio's (``grpc.health.v1``, ``grpc.reflection.v1alpha``) under other file names,
and protobuf's default pool refuses the second set: a process cannot import both. So the grpclib
server runs grpcio's own asyncio servicers (``grpc_health``, ``grpc_reflection``), the same the
grpc.aio server runs, each behind a grpclib handler; :class:`_ServicerContext` gives them the two
things of a ``grpc.aio`` context they use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from runtime_lib._rpc.reflection import listed

_STATUS = {status.value: status for status in Status}
_SERVING = health_pb2.HealthCheckResponse.SERVING


class _ServicerContext:
    """What grpcio's health servicer calls on its context: ``abort`` and ``write``; it keeps
    the last status a Watch sent, and calls ``on_sent`` after each."""

    def __init__(
        self, stream: Stream[Any, Any], on_sent: Callable[[], None] = lambda: None
    ) -> None:
        self._stream = stream
        self._on_sent = on_sent
        self.last_sent: Any = None

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise GRPCError(_STATUS[code.value[0]], details or None)

    async def write(self, message: Any) -> None:
        await self._stream.send_message(message)
        self.last_sent = message.status
        self._on_sent()


class HealthService:
    """``grpc.health.v1.Health`` (Check and Watch) from grpcio's servicer; set it with
    :attr:`servicer` (``set``, ``enter_graceful_shutdown``)."""

    def __init__(self) -> None:
        self.servicer = health.aio.HealthServicer()
        self._watchers: set[_ServicerContext] = set()
        self._sent: asyncio.Event | None = None  # only while drained() waits

    async def drained(self, within: float) -> None:
        """``enter_graceful_shutdown``, then wait (at most ``within`` seconds) until every
        Watch that was told SERVING has been sent NOT_SERVING: a load balancer watching learns
        of the drain before the connection closes."""
        await self.servicer.enter_graceful_shutdown()
        end = time.monotonic() + within
        try:
            while any(w.last_sent == _SERVING for w in self._watchers):
                self._sent = sent = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sent.wait(), end - time.monotonic())
                if time.monotonic() >= end:
                    return
        finally:
            self._sent = None

    def _on_sent(self) -> None:
        if self._sent is not None:
            self._sent.set()

    async def _check(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        # grpc-stubs type the context as grpc.aio's; it uses what _ServicerContext has.
        servicer: Any = self.servicer
        reply = await servicer.Check(request, _ServicerContext(stream))
        await stream.send_message(reply)

    async def _watch(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        servicer: Any = self.servicer
        context = _ServicerContext(stream, self._on_sent)
        self._watchers.add(context)
        try:
            await servicer.Watch(request, context)
        finally:
            self._watchers.discard(context)

    def __mapping__(self) -> Mapping[str, Handler]:
        request, reply = health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
        return {
            f"/{health.SERVICE_NAME}/Check": Handler(
                self._check, Cardinality.UNARY_UNARY, request, reply
            ),
            f"/{health.SERVICE_NAME}/Watch": Handler(
                self._watch, Cardinality.UNARY_STREAM, request, reply
            ),
        }


class ReflectionService:
    """``grpc.reflection.v1alpha.ServerReflection`` listing ``services`` (with health and
    itself), from grpcio's servicer."""

    def __init__(self, services: Iterable[str]) -> None:
        # Its stubs declare a coroutine; it is an async generator, as grpc.aio calls it.
        self._servicer: Any = reflection.aio.ReflectionServicer(listed(services))

    async def _info(self, stream: Stream[Any, Any]) -> None:
        async for reply in self._servicer.ServerReflectionInfo(stream, None):
            await stream.send_message(reply)

    def __mapping__(self) -> Mapping[str, Handler]:
        return {
            f"/{reflection.SERVICE_NAME}/ServerReflectionInfo": Handler(
                self._info,
                Cardinality.STREAM_STREAM,
                reflection_pb2.ServerReflectionRequest,
                reflection_pb2.ServerReflectionResponse,
            )
        }
