"""The gRPC face of a bridge: a ``grpc.aio`` server on the standard ``/package.Service/Method`` paths.

Any gRPC client can call it. It decodes the request bytes and reads the call's metadata into a
:class:`CallContext` (a malformed call is the caller's fault: ``BadRequestError``), hands the call
to the :class:`Dispatcher`, sends the handler's reply metadata, and turns failures into the rich
error model. Under TLS (``tls=``) it requires a client certificate from the CA, and the caller is
the service that certificate names (``sb-caller`` is not read). An unknown path gets gRPC's ``UNIMPLEMENTED`` and leaves nothing behind. It also
serves the standard gRPC health service and, unless turned off, server reflection; ``stop()``
drains: in-flight calls finish and their
replies are sent, new ones are refused with the not-dispatched marker, then the server closes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn, cast

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from runtime_lib._errors import ServiceBridgeError
from runtime_lib._rpc import wire_errors
from runtime_lib._rpc.config import listen_refused
from runtime_lib._rpc.context import CallContext, MetadataValue
from runtime_lib._rpc.dispatch import Dispatcher, Route, closing
from runtime_lib._rpc.incoming import call_context, decode, decoded
from runtime_lib._rpc.open_calls import OpenCalls
from runtime_lib._rpc.reflection import serve_reflection
from runtime_lib._rpc.spec import Cardinality
from runtime_lib._rpc.transports.base import DEFAULT_MAX_MESSAGE_SIZE

if TYPE_CHECKING:
    from runtime_lib._security.bridge_tls import BridgeTls

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# Calls that gRPC's core accepted but this process has not taken yet (its loop is busy) wait in
# a pending queue. Between 1,000 and 3,000 of them (gRPC's defaults) core drops arrivals at
# random ("random early detection") with a bare CANCELLED: no trailers, no not-dispatched
# marker, so callers could neither explain nor retry them. With both limits at one higher
# value, every call up to it reaches admission, which refuses the excess with the marker.
PENDING_CALL_LIMIT = 20_000

_SERVER_OPTIONS = (
    # gRPC binds with SO_REUSEPORT by default, so a second server on a served port would start
    # and silently share it; with it off, the second bind fails and start() says so.
    ("grpc.so_reuseport", 0),
    ("grpc.server.max_pending_requests", PENDING_CALL_LIMIT),
    ("grpc.server.max_pending_requests_hard_limit", PENDING_CALL_LIMIT),
)


# The call's metadata as grpc.aio converted it to look the method up. grpc.aio looks a method up
# in the task it then runs the handler in (each call's own task, so its own context), so the
# handler takes it from here rather than have ``invocation_metadata()`` convert it from C again
# (callgrind: ~10k instructions per call; a check that the task is the same cost most of that
# back). tests/runtime/test_call_entry.py checks concurrent calls each read their own.
_LOOKED_UP: ContextVar[Sequence[tuple[str, MetadataValue]]] = ContextVar(
    "sb_looked_up_metadata", default=()
)


class RpcServer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        listen: str,
        drain_timeout: float,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        tls: BridgeTls | None = None,
        *,
        reflection: bool = True,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self._dispatcher = dispatcher
        self._tls = tls
        self._reflection = reflection
        self._options = (
            *_SERVER_OPTIONS,
            ("grpc.max_receive_message_length", max_message_size),
        )
        self._interceptors = tuple(interceptors)
        self._listen = listen
        self._drain_timeout = drain_timeout
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self._open = OpenCalls()
        self.port = 0

    async def start(self) -> int:
        server = grpc.aio.server(interceptors=self._interceptors, options=self._options)
        server.add_generic_rpc_handlers((_Handlers(self._dispatcher, self._tls, self._open),))
        generic_only = cast(grpc.aio.Server, _GenericOnly(server))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, generic_only)
        if self._reflection:
            serve_reflection(generic_only, (spec.full_name for spec in self._dispatcher.services))
        try:
            if self._tls is None:
                self.port = server.add_insecure_port(self._listen)
            else:
                self.port = server.add_secure_port(self._listen, self._tls.server_credentials())
        except RuntimeError as exc:
            raise listen_refused(self._listen) from exc
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
        started = time.monotonic()
        await self._dispatcher.admission.wait_idle(self._drain_timeout)
        # A handler that returned has not always had its reply sent yet, and a client need not
        # keep a stream open past GOAWAY (grpclib did not). Wait until gRPC finished each call.
        await self._open.wait_closed(self._drain_timeout - (time.monotonic() - started))
        await server.stop(grace=1.0)


class _Handlers(grpc.GenericRpcHandler):
    """The method handlers, built once from the routes. An unknown path is answered by gRPC
    (``UNIMPLEMENTED``) and stored nowhere: a per-path cache grew with every distinct path.

    Handlers are shared by all calls of a method (one made per call, bound to the lookup's
    metadata, was measured ~4k instructions dearer); the lookup leaves the call's metadata in
    ``_LOOKED_UP`` for the handler."""

    def __init__(
        self, dispatcher: Dispatcher, tls: BridgeTls | None, open_calls: OpenCalls
    ) -> None:
        self.methods: Mapping[str, grpc.RpcMethodHandler[Any, Any]] = MappingProxyType(
            {
                path: _method_handler(dispatcher, route, tls, open_calls)
                for path, route in dispatcher.routes.items()
            }
        )

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = self.methods.get(handler_call_details.method)
        if handler is not None:
            _LOOKED_UP.set(handler_call_details.invocation_metadata)
        return handler


class _GenericOnly:
    """A server as grpc_tools' ``add_XServicer_to_server`` sees it, taking only the generic
    handler those functions add, not the same methods registered with core.

    ``grpc.aio`` keeps one pending request per registered method and, for every call it accepts,
    waits on all of them (``asyncio.wait``): each registered method costs CPU on every call of
    every method (~4,000 instructions; health and reflection register four). Through the generic
    handler a call costs one dict lookup, so the bridge's own methods are served that way too.
    """

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(handlers))

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        """Served by the generic handler added beside them."""


def _method_handler(
    dispatcher: Dispatcher, route: Route, tls: BridgeTls | None, open_calls: OpenCalls
) -> grpc.RpcMethodHandler[Any, Any]:
    # Requests arrive as bytes (no deserializer) and are decoded here, so that undecodable bytes
    # are refused as the caller's error instead of gRPC's generic one.
    method = route.method
    request_class = method.request
    encode = method.reply.SerializeToString
    # Each call counts as open until gRPC has sent its status (the context's done callback);
    # grpc-stubs type the callback as a private class, any callable of the context works.
    opened = open_calls.opened
    closed: Any = open_calls.closed
    path = method.path
    run = dispatcher.unary

    async def unary(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Message:
        opened()
        context.add_done_callback(closed)
        ctx: CallContext | None = None
        try:
            # _context(route, context, tls) written out: one Python call less on every unary call.
            ctx = call_context(
                route,
                _LOOKED_UP.get() or context.invocation_metadata() or (),
                context.time_remaining(),
                None if tls is None else tls.caller(context),
            )
            reply = await run(route, decode(request_class, raw, path), ctx)
        except ServiceBridgeError as exc:
            await _abort(context, ctx, exc)
        if ctx.has_reply_metadata:
            await _send_headers(context, ctx)
            _set_trailers(context, ctx)
        return reply

    async def client_stream(
        raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message:
        opened()
        context.add_done_callback(closed)
        ctx: CallContext | None = None
        try:
            ctx = _context(route, context, tls)
            requests = decoded(request_class, raw, route.method.path)
            reply = await dispatcher.client_stream(route, requests, ctx)
        except ServiceBridgeError as exc:
            await _abort(context, ctx, exc)
        await _send_headers(context, ctx)
        _set_trailers(context, ctx)
        return reply

    bidi = method.cardinality is Cardinality.BIDI_STREAMING

    async def reply_stream(
        raw: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Message]:
        """Server-streaming and bidi calls: one body, the request side chosen once per method
        (gRPC wants an async generator function here, so no wrapper layer per message)."""
        opened()
        context.add_done_callback(closed)
        ctx: CallContext | None = None
        try:
            ctx = _context(route, context, tls)
            path = route.method.path
            replies = (
                dispatcher.bidi_stream(route, decoded(request_class, raw, path), ctx)
                if bidi
                else dispatcher.server_stream(route, decode(request_class, raw, path), ctx)
            )
            async with closing(replies):
                async for reply in replies:
                    if not ctx.headers_sent:
                        await _send_headers(context, ctx)
                    yield reply
        except ServiceBridgeError as exc:
            await _abort(context, ctx, exc)
        await _send_headers(context, ctx)
        _set_trailers(context, ctx)

    if method.cardinality is Cardinality.UNARY:
        return grpc.unary_unary_rpc_method_handler(unary, None, encode)
    if method.cardinality is Cardinality.CLIENT_STREAMING:
        return grpc.stream_unary_rpc_method_handler(client_stream, None, encode)
    if method.cardinality is Cardinality.SERVER_STREAMING:
        return grpc.unary_stream_rpc_method_handler(reply_stream, None, encode)
    return grpc.stream_stream_rpc_method_handler(reply_stream, None, encode)


def _context(
    route: Route, context: grpc.aio.ServicerContext[Any, Any], tls: BridgeTls | None
) -> CallContext:
    # Binary ("-bin") entries have bytes values.
    pairs = _LOOKED_UP.get() or context.invocation_metadata() or ()
    caller = None if tls is None else tls.caller(context)
    return call_context(route, pairs, context.time_remaining(), caller)


async def _send_headers(context: grpc.aio.ServicerContext[Any, Any], ctx: CallContext) -> None:
    if ctx.headers_sent:
        return
    ctx.mark_headers_sent()
    headers = ctx.reply_headers
    if headers:
        await context.send_initial_metadata(tuple(headers.items()))


def _set_trailers(context: grpc.aio.ServicerContext[Any, Any], ctx: CallContext) -> None:
    trailers = ctx.reply_trailers
    if trailers:
        context.set_trailing_metadata(tuple(trailers.items()))


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any],
    ctx: CallContext | None,
    error: ServiceBridgeError,
) -> NoReturn:
    code, details, trailers = wire_errors.encode(error)
    if ctx is not None:
        await _send_headers(context, ctx)
        trailers = (*ctx.reply_trailers.items(), *trailers)
    await context.abort(code, details, trailers)
