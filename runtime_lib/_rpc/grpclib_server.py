"""The gRPC face of a bridge on ``RpcConfig(transport="grpclib")``: a grpclib server (pure-Python
HTTP/2) on the standard ``/package.Service/Method`` paths, behaving as the grpc.aio one
(:mod:`runtime_lib._rpc.server`) does.

Requests arrive as bytes and are decoded, and the call's metadata read into a
:class:`CallContext`, by :mod:`runtime_lib._rpc.incoming`, as on grpc.aio; the :class:`Dispatcher`
runs the handler; failures leave as the rich error model of :mod:`runtime_lib._rpc.wire_errors`
(the same status, ``grpc-status-details-bin`` and trailers). Under TLS a client certificate from
the bridge's CA is required and names the caller; rotated files apply from the next handshake.
It serves the standard health service and, unless turned off, server reflection. ``stop()``
drains: new calls are refused with the not-dispatched marker, in-flight calls finish and their
replies are sent, then every connection gets RFC 9113 §6.8's GOAWAYs (last stream 2^31-1, then
the last stream taken), and the server closes.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, cast

from google.protobuf.message import Message
from grpc_health.v1 import health_pb2
from grpclib import protocol
from grpclib.const import Handler as MethodHandler
from grpclib.const import Status
from grpclib.encoding.base import GRPC_CONTENT_TYPE
from grpclib.encoding.proto import ProtoCodec
from grpclib.metadata import Deadline
from grpclib.protocol import H2Protocol
from grpclib.server import Handler, Server, Stream, request_handler
from h2.connection import ConnectionInputs, ConnectionState, H2ConnectionStateMachine
from h2.errors import ErrorCodes
from h2.events import PingAckReceived

from runtime_lib._errors import ConfigError, ServiceBridgeError
from runtime_lib._rpc import wire, wire_errors
from runtime_lib._rpc.config import listen_refused
from runtime_lib._rpc.context import CallContext
from runtime_lib._rpc.dispatch import Dispatcher, Route, closing
from runtime_lib._rpc.grpclib_limits import limit_messages
from runtime_lib._rpc.grpclib_services import HealthService, ReflectionService
from runtime_lib._rpc.grpclib_writes import BatchedWrites
from runtime_lib._rpc.incoming import call_context, decode, decoded
from runtime_lib._rpc.open_calls import OpenCalls
from runtime_lib._rpc.spec import Cardinality, ServiceSpec
from runtime_lib._rpc.transports.base import DEFAULT_MAX_MESSAGE_SIZE
from runtime_lib._rpc.transports.grpclib import GRPCLIB_CARDINALITY, RawDetails

if TYPE_CHECKING:
    from runtime_lib._security.bridge_tls import BridgeTls

_STATUS = {status.value: status for status in Status}
_SERVING = health_pb2.HealthCheckResponse.SERVING
_LAST_STREAM_ID = 2**31 - 1  # RFC 9113 §6.8: "no stream refused yet" in a first GOAWAY
_DRAIN_PING = b"sb-drain"  # the opaque data (8 bytes) of the PING a drain sends before GOAWAY
# How long a drain waits for each caller to answer that PING: a loopback round trip takes well
# under a millisecond; a caller that does not answer is not waited for longer.
_PING_WAIT = 1.0

MethodFunc = Callable[[Stream[Any, Any]], Coroutine[Any, Any, None]]


class GrpclibServer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        listen: str,
        drain_timeout: float,
        tls: BridgeTls | None = None,
        *,
        reflection: bool = True,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self._dispatcher = dispatcher
        self._tls = tls
        self._reflection = reflection
        self._max_message_size = max_message_size
        self._listen = listen
        self._drain_timeout = drain_timeout
        self._server: _Server | None = None
        self._health = HealthService()
        self._in_flight = OpenCalls()
        self.port = 0

    async def start(self) -> int:
        specs = self._dispatcher.services
        services: list[Any] = [
            _Service(spec, self._dispatcher, self._tls, self._in_flight) for spec in specs
        ]
        services.append(self._health)
        if self._reflection:
            services.append(ReflectionService(spec.full_name for spec in specs))
        host, port = _split(self._listen)
        ssl = None if self._tls is None else self._tls.server_ssl_context(alpn=["h2"])

        async def listening(port: int) -> _Server:
            server = _Server(services, codec=_Codec(), status_details_codec=RawDetails())
            server.max_message_size = self._max_message_size
            # No SO_REUSEPORT (asyncio's default): a second server on a served port fails here.
            await server.start(host, port, ssl=ssl)
            return server

        try:
            server = await listening(port)
            # A name with several addresses ("localhost", all interfaces) and port 0 got a free
            # port per address; grpcio serves one port on all: listen again on the first's.
            tries = _SAME_PORT_TRIES if port == 0 else 0
            while tries and len(server.ports()) > 1:
                tries -= 1
                chosen = server.port()
                server.close()
                await server.wait_closed()
                try:
                    server = await listening(chosen)
                except OSError:  # taken meanwhile on another address: a new pick
                    server = await listening(0)
        except OSError as exc:
            raise listen_refused(self._listen) from exc
        self._server = server
        self.port = server.port()
        for spec in specs:
            await self._health.servicer.set(spec.full_name, _SERVING)
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._dispatcher.admission.drain()
        started = time.monotonic()
        await self._health.drained(self._drain_timeout)
        await self._dispatcher.admission.wait_idle(self._drain_timeout)
        # A handler that returned has not always had its reply sent yet: wait until each call
        # sent its status.
        await self._in_flight.wait_closed(self._drain_timeout - (time.monotonic() - started))
        # GOAWAY only once every caller has read every reply: upstream grpclib ends all open
        # streams on any GOAWAY, a reply it received but had not handed over yet included, so
        # one sent as the drain began lost every call such a caller had in flight. A caller's
        # answer to a PING sent after the replies shows it read them (RFC 9113 §6.8 gives the
        # same round trip to streams it was opening). Calls arriving meanwhile are refused as
        # not dispatched.
        await server.round_trip(
            min(_PING_WAIT, max(0.0, self._drain_timeout - (time.monotonic() - started)))
        )
        server.goaway(_LAST_STREAM_ID)
        server.goaway(None)
        server.close()
        server.disconnect()
        await server.wait_closed()


_SAME_PORT_TRIES = 5


def _split(listen: str) -> tuple[str | None, int]:
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"listen={listen!r}: give host:port, e.g. 127.0.0.1:0")
    host = host.strip("[]")
    # "[::]" is gRPC's spelling of every interface (grpcio listens dual-stack there); asyncio
    # would listen on IPv6 alone, so it is asked for all interfaces instead.
    return (None if host in ("", "::") else host), int(port)


class _Codec(ProtoCodec):
    """Protobuf, but a request type of ``bytes`` is handed over undecoded: the server decodes it,
    so undecodable bytes are the caller's error (``BadRequestError``), not grpclib's."""

    def decode(self, data: bytes, message_type: Any) -> Any:
        if message_type is bytes:
            return data
        return super().decode(data, message_type)


class _StaysOpenAfterGoaway(H2ConnectionStateMachine):
    # h2 goes CLOSED once it sent a GOAWAY and then refuses to send the replies of the streams
    # already taken, which RFC 9113 §6.8 lets finish (python-hyper/h2#1199).
    _transitions = {
        **H2ConnectionStateMachine._transitions,
        (ConnectionState.SERVER_OPEN, ConnectionInputs.SEND_GOAWAY): (
            None,
            ConnectionState.SERVER_OPEN,
        ),
    }


class _Handler(Handler):
    """grpclib's per-connection handler, answering a call whose deadline passed before it
    started with DEADLINE_EXCEEDED: grpclib's own check raises outside the handling that maps
    it, and the caller got UNKNOWN ("Internal Server Error")."""

    def accept(
        self,
        stream: protocol.Stream,
        headers: list[tuple[str, str]],
        release_stream: Callable[[], Any],
    ) -> None:
        self.__gc_step__()
        self._tasks[stream] = self.loop.create_task(self._handle(stream, headers, release_stream))

    async def _handle(
        self,
        stream: protocol.Stream,
        headers: list[tuple[str, str]],
        release_stream: Callable[[], Any],
    ) -> None:
        try:
            deadline = Deadline.from_headers(headers)
        except ValueError:
            deadline = None  # grpclib answers a malformed grpc-timeout
        if deadline is not None and not deadline.time_remaining():
            try:
                await stream.send_headers(_EXPIRED, end_stream=True)
            finally:
                release_stream()
            return
        await request_handler(
            self.mapping,
            stream,
            headers,
            self.codec,
            self.status_details_codec,
            self.dispatch,
            release_stream,
        )


_EXPIRED = [
    (":status", "200"),
    ("content-type", GRPC_CONTENT_TYPE),
    ("grpc-status", str(Status.DEADLINE_EXCEEDED.value)),
    ("grpc-message", "Deadline Exceeded"),
]


class _Protocol(H2Protocol):
    """grpclib's HTTP/2 protocol, its writes batched per event-loop step, its h2 connection
    still sending the replies of the streams it took after it sent GOAWAY, and able to tell when
    the caller answered a PING."""

    _answered: asyncio.Future[None] | None = None  # while a drain's PING waits for its answer
    max_message_size = DEFAULT_MAX_MESSAGE_SIZE

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        super().connection_made(cast(asyncio.Transport, BatchedWrites(transport)))
        limit_messages(self.connection, self.max_message_size)
        h2 = self.connection._connection  # grpclib builds it inside connection_made
        machine = _StaysOpenAfterGoaway()
        machine.state = h2.state_machine.state
        h2.state_machine = machine
        processors = self.processor.processors
        acked = cast(Callable[[PingAckReceived], None], processors[PingAckReceived])

        def ping_acked(event: PingAckReceived) -> None:
            acked(event)
            answered = self._answered
            if event.ping_data == _DRAIN_PING and answered is not None and not answered.done():
                answered.set_result(None)

        processors[PingAckReceived] = ping_acked

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        # grpclib leaves write_ready cleared when the connection was lost while writes were
        # paused. A handler whose call the client had reset waits in it to send trailers, its
        # task no longer among those grpclib cancels, and the server's stop waited forever;
        # woken, its write fails at once.
        self.connection.write_ready.set()

    def ping(self) -> asyncio.Future[None]:
        """Send the drain's PING; the future is done once the caller answered it."""
        if self._answered is None:
            self._answered = asyncio.get_running_loop().create_future()
            self.connection._connection.ping(_DRAIN_PING)
            self.connection.flush()
        return self._answered


class _Server(Server):
    """grpclib's server, with :class:`_Handler` and knowing its connections so that it can send
    them GOAWAY."""

    max_message_size = DEFAULT_MAX_MESSAGE_SIZE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._protocols: weakref.WeakSet[_Protocol] = weakref.WeakSet()

    def ports(self) -> set[int]:
        """The port of each address listened on."""
        assert isinstance(self._server, asyncio.Server)  # what grpclib's start made
        return {int(sock.getsockname()[1]) for sock in self._server.sockets}

    def _protocol_factory(self) -> H2Protocol:
        # As grpclib's, with our handler.
        self.__gc_step__()
        handler = _Handler(
            self._mapping, self._codec, self._status_details_codec, self.__dispatch__
        )
        self._handlers.add(handler)
        h2_protocol = _Protocol(handler, self._config, self._h2_config)
        h2_protocol.max_message_size = self.max_message_size
        self._protocols.add(h2_protocol)
        return h2_protocol

    def port(self) -> int:
        # grpclib types it as AbstractServer; asyncio's create_server made an asyncio.Server.
        server = self._server
        assert isinstance(server, asyncio.Server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    def disconnect(self) -> None:
        """Close every connection (grpclib's ``close`` leaves them to the clients)."""
        for h2_protocol in list(self._protocols):
            processor = getattr(h2_protocol, "processor", None)  # set once connected
            if processor is not None:
                processor.close("the server stopped")

    async def round_trip(self, within: float) -> None:
        """PING every open connection and wait, up to ``within`` seconds, for the answers."""
        answers = [
            h2_protocol.ping()
            for h2_protocol in list(self._protocols)
            if getattr(h2_protocol, "connection", None) is not None  # set once connected
            and not h2_protocol.connection.is_closing()
        ]
        if answers:
            await asyncio.wait(answers, timeout=within)

    def goaway(self, last_stream_id: int | None) -> None:
        """GOAWAY (NO_ERROR) on every open connection; ``None``: the last stream it took."""
        for h2_protocol in list(self._protocols):
            connection = getattr(h2_protocol, "connection", None)  # set once connected
            if connection is None or connection.is_closing():
                continue
            connection._connection.close_connection(
                ErrorCodes.NO_ERROR, last_stream_id=last_stream_id
            )
            connection.flush()


class _Service:
    """One served service, as grpclib's server takes it (``__mapping__``: path to handler)."""

    def __init__(
        self,
        spec: ServiceSpec,
        dispatcher: Dispatcher,
        tls: BridgeTls | None,
        in_flight: OpenCalls,
    ) -> None:
        self._mapping = {
            method.path: MethodHandler(
                _method_func(dispatcher, route, tls, in_flight),
                GRPCLIB_CARDINALITY[method.cardinality],
                bytes,
                method.reply,
            )
            for method in spec.methods
            if (route := dispatcher.routes.get(method.path)) is not None
        }

    def __mapping__(self) -> Mapping[str, MethodHandler]:
        return self._mapping


def _method_func(
    dispatcher: Dispatcher, route: Route, tls: BridgeTls | None, in_flight: OpenCalls
) -> MethodFunc:
    method = route.method
    path = method.path
    request_class = method.request

    client_streams = method.cardinality is Cardinality.CLIENT_STREAMING

    async def single_reply(stream: Stream[Any, Any]) -> None:
        """Unary and client-streaming calls: one reply, the request side chosen once per method."""
        with in_flight:
            ctx: CallContext | None = None
            try:
                ctx = _context(route, stream, tls)
                if client_streams:
                    requests = decoded(request_class, stream, path)
                    reply = await dispatcher.client_stream(route, requests, ctx)
                else:
                    request = decode(request_class, await stream.recv_message(), path)
                    reply = await dispatcher.unary(route, request, ctx)
            except ServiceBridgeError as exc:
                await _fail(stream, ctx, exc)
                return
            await _send_headers(stream, ctx)
            await stream.send_message(reply)
            await _send_trailers(stream, ctx)

    bidi = method.cardinality is Cardinality.BIDI_STREAMING

    async def reply_stream(stream: Stream[Any, Any]) -> None:
        with in_flight:
            ctx: CallContext | None = None
            try:
                ctx = _context(route, stream, tls)
                replies: AsyncIterator[Message] = (
                    dispatcher.bidi_stream(route, decoded(request_class, stream, path), ctx)
                    if bidi
                    else dispatcher.server_stream(
                        route, decode(request_class, await stream.recv_message(), path), ctx
                    )
                )
                send = stream.send_message
                async with closing(replies):
                    async for reply in replies:
                        if not ctx.headers_sent:
                            await _send_headers(stream, ctx)
                        await send(reply)
            except ServiceBridgeError as exc:
                await _fail(stream, ctx, exc)
                return
            await _send_headers(stream, ctx)
            await _send_trailers(stream, ctx)

    if method.cardinality in (Cardinality.UNARY, Cardinality.CLIENT_STREAMING):
        return single_reply
    return reply_stream


def _context(route: Route, stream: Stream[Any, Any], tls: BridgeTls | None) -> CallContext:
    # grpclib decoded the metadata ("-bin" values to bytes) and left out its own (grpc-*,
    # te, content-type, user-agent) keys.
    pairs = stream.metadata.items() if stream.metadata else ()
    deadline = stream.deadline
    remaining = None if deadline is None else deadline.time_remaining()
    return call_context(route, pairs, remaining, None if tls is None else _caller(stream, tls))


def _caller(stream: Stream[Any, Any], tls: BridgeTls) -> str:
    # The handshake verified the certificate against our CA (the context requires one).
    cert = stream.peer.cert() or {}
    names = tuple(value for _kind, value in cert.get("subjectAltName", ()))
    return tls.caller_named(names)


async def _send_headers(stream: Stream[Any, Any], ctx: CallContext) -> None:
    if ctx.headers_sent:
        return
    ctx.mark_headers_sent()
    await stream.send_initial_metadata(metadata=ctx.reply_headers)


async def _send_trailers(stream: Stream[Any, Any], ctx: CallContext) -> None:
    await stream.send_trailing_metadata(metadata=ctx.reply_trailers)


async def _fail(
    stream: Stream[Any, Any], ctx: CallContext | None, error: ServiceBridgeError
) -> None:
    code, details, trailers = wire_errors.encode(error)
    # grpclib writes grpc-status-details-bin itself (from status_details, by RawDetails) and
    # refuses grpc-* keys among the trailers.
    rich = None
    rest = []
    for key, value in trailers:
        if key == wire.STATUS_DETAILS:
            rich = value
        else:
            rest.append((key, value))
    if ctx is not None:
        if ctx.reply_headers and not ctx.headers_sent:
            await _send_headers(stream, ctx)
        rest = [*ctx.reply_trailers.items(), *rest]
    await stream.send_trailing_metadata(
        status=_STATUS[code.value[0]],
        status_message=details,
        status_details=rich,
        metadata=rest,
    )
