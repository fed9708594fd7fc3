"""The gRPC face of a bridge: a ``grpc.aio`` server on the standard ``/package.Service/Method`` paths.

Any gRPC client can call it. It reads the call's metadata into a :class:`CallContext`, hands the
call to the :class:`Dispatcher`, and turns failures into the rich error model. It also serves the
standard gRPC health service, and ``stop()`` drains: in-flight calls finish, new ones are refused
with the not-dispatched marker, then the server closes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, NoReturn

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from runtime_lib.errors import ConfigError, ServiceBridgeError
from runtime_lib.rpc import wire, wire_errors
from runtime_lib.rpc.context import CallContext
from runtime_lib.rpc.dispatch import Dispatcher, Route, closing
from runtime_lib.rpc.spec import Cardinality

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class RpcServer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        listen: str,
        drain_timeout: float,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self._dispatcher = dispatcher
        self._interceptors = tuple(interceptors)
        self._listen = listen
        self._drain_timeout = drain_timeout
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self.port = 0

    async def start(self) -> int:
        server = grpc.aio.server(interceptors=self._interceptors)
        server.add_generic_rpc_handlers((_Handlers(self._dispatcher),))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        try:
            self.port = server.add_insecure_port(self._listen)
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {self._listen}: {exc}") from exc
        await server.start()
        self._server = server
        await self._health.set("", _SERVING)
        for spec in self._dispatcher.services:
            await self._health.set(spec.full_name, _SERVING)
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._dispatcher.admission.drain()
        await self._health.enter_graceful_shutdown()
        await self._dispatcher.admission.wait_idle(self._drain_timeout)
        await server.stop(grace=1.0)


class _Handlers(grpc.GenericRpcHandler):
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._cache: dict[str, grpc.RpcMethodHandler[Any, Any] | None] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        path = handler_call_details.method
        if path not in self._cache:
            route = self._dispatcher.route(path)
            self._cache[path] = None if route is None else _method_handler(self._dispatcher, route)
        return self._cache[path]


def _method_handler(dispatcher: Dispatcher, route: Route) -> grpc.RpcMethodHandler[Any, Any]:
    method = route.method
    decode = method.request.FromString
    encode = method.reply.SerializeToString

    async def unary(request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> Message:
        try:
            return await dispatcher.unary(route, request, _context(route, context))
        except ServiceBridgeError as exc:
            await _abort(context, exc)

    async def client_stream(
        requests: AsyncIterator[Message], context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message:
        try:
            return await dispatcher.client_stream(route, requests, _context(route, context))
        except ServiceBridgeError as exc:
            await _abort(context, exc)

    async def server_stream(
        request: Message, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Message]:
        try:
            replies = dispatcher.server_stream(route, request, _context(route, context))
            async with closing(replies):
                async for reply in replies:
                    yield reply
        except ServiceBridgeError as exc:
            await _abort(context, exc)

    async def bidi_stream(
        requests: AsyncIterator[Message], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Message]:
        try:
            replies = dispatcher.bidi_stream(route, requests, _context(route, context))
            async with closing(replies):
                async for reply in replies:
                    yield reply
        except ServiceBridgeError as exc:
            await _abort(context, exc)

    if method.cardinality is Cardinality.UNARY:
        return grpc.unary_unary_rpc_method_handler(unary, decode, encode)
    if method.cardinality is Cardinality.CLIENT_STREAMING:
        return grpc.stream_unary_rpc_method_handler(client_stream, decode, encode)
    if method.cardinality is Cardinality.SERVER_STREAMING:
        return grpc.unary_stream_rpc_method_handler(server_stream, decode, encode)
    return grpc.stream_stream_rpc_method_handler(bidi_stream, decode, encode)


def _context(route: Route, context: grpc.aio.ServicerContext[Any, Any]) -> CallContext:
    # One pass over the (key, value) pairs; binary ("-bin") entries have bytes values.
    metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    get = metadata.get
    sent = get(wire.CONTRACT)
    if sent is not None and sent != route.method.contract_hash:
        Dispatcher.check_contract(route, sent)  # raises the mismatch
    remaining = context.time_remaining()
    stated = get(wire.TIMEOUT_MS)
    if stated is not None and stated.isdigit():
        budget = int(stated) / 1000
        remaining = budget if remaining is None else min(remaining, budget)
    return CallContext(
        route.method.path,
        get(wire.CALLER, ""),
        get(wire.REQUEST_ID, ""),
        get(wire.IDEMPOTENCY_KEY) or None,
        None if remaining is None else time.monotonic() + remaining,
        metadata,
    )


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any], error: ServiceBridgeError
) -> NoReturn:
    code, details, trailers = wire_errors.encode(error)
    await context.abort(code, details, trailers)
