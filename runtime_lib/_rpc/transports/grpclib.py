"""The grpclib transport: pure-Python HTTP/2 (``pip install 'sb-gen[grpclib]'``), the same wire.

One ``grpclib.client.Channel`` per endpoint address. Errors map exactly as on grpcio: the status,
the raw ``grpc-status-details-bin`` (kept as bytes by :class:`RawDetails`) and the trailers go
through :func:`runtime_lib._rpc.wire_errors.decode`; grpclib's own deadline becomes TIMEOUT; a
connection that fails before the request headers went out, or a stream the server's GOAWAY
says it never processed, is not dispatched. A GOAWAY lets the calls the server took finish
(:mod:`runtime_lib._rpc.transports.grpclib_goaway`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any

import grpc
import h2.exceptions
from google.protobuf.message import Message
from grpclib.client import Handler, Stream
from grpclib.config import Configuration
from grpclib.const import Cardinality as GrpclibCardinality
from grpclib.const import Status
from grpclib.encoding.base import StatusDetailsCodecBase
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
from grpclib.protocol import H2Protocol

from runtime_lib._errors import (
    CallTimeoutError,
    ConnectionFailedError,
    ServiceBridgeError,
)
from runtime_lib._rpc import wire, wire_errors
from runtime_lib._rpc.options import ReplyMetadata
from runtime_lib._rpc.spec import Cardinality
from runtime_lib._rpc.transports.base import (
    CONNECT_TIMEOUT,
    DEFAULT_MAX_MESSAGE_SIZE,
    Outgoing,
    OutgoingCall,
    no_reply,
)
from runtime_lib._rpc.transports.grpclib_goaway import GoawayChannel, NotProcessedError
from runtime_lib._rpc.wire_errors import MessageTooLargeError

if TYPE_CHECKING:
    from runtime_lib._security.bridge_tls import TargetTls

GRPCLIB_CARDINALITY = {
    Cardinality.UNARY: GrpclibCardinality.UNARY_UNARY,
    Cardinality.CLIENT_STREAMING: GrpclibCardinality.STREAM_UNARY,
    Cardinality.SERVER_STREAMING: GrpclibCardinality.UNARY_STREAM,
    Cardinality.BIDI_STREAMING: GrpclibCardinality.STREAM_STREAM,
}
_GRPC_STATUS = {status.value[0]: status for status in grpc.StatusCode}
# What a broken connection raises inside grpclib (h2 and the socket), as opposed to a status.
_BROKEN = (StreamTerminatedError, ProtocolError, h2.exceptions.H2Error, OSError, EOFError)


class RawDetails(StatusDetailsCodecBase):
    """Keeps ``grpc-status-details-bin`` as bytes: those ``wire_errors.decode`` reads, and those
    ``wire_errors.encode`` made (for the grpclib server)."""

    def encode(self, status: Status, message: str | None, details: Any) -> bytes:
        raw: bytes = details
        return raw

    def decode(self, status: Status, message: str | None, data: bytes) -> Any:
        return data


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class GrpclibConnection:
    def __init__(
        self,
        address: str,
        tls: TargetTls | None = None,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.address = address
        host, port = _split(address)
        if tls is None:
            self._channel = GoawayChannel(host, port, status_details_codec=RawDetails())
        else:
            # ssl checks the server's certificate against the name of the service meant, not
            # against the address it was found at.
            self._channel = GoawayChannel(
                host,
                port,
                status_details_codec=RawDetails(),
                ssl=tls.ssl_context(),
                config=Configuration(ssl_target_name_override=tls.server_name),
            )
        self._channel.max_message_size = max_message_size
        self._protocol: H2Protocol | None = None

    def is_ready(self) -> bool:
        protocol = self._protocol
        if protocol is None:
            return False
        handler = protocol.handler  # grpclib's client handler notes when the connection drops
        return isinstance(handler, Handler) and not handler.connection_lost

    async def ready(self, within: float) -> None:
        try:
            self._protocol = await asyncio.wait_for(
                self._channel.__connect__(), min(within, CONNECT_TIMEOUT)
            )
        except (OSError, TimeoutError) as exc:
            if isinstance(exc, ssl.SSLError):
                why = f"TLS handshake failed: {exc.reason or 'refused'}"
            elif isinstance(exc, TimeoutError):
                why = "timed out"
            else:
                why = exc.strerror or "refused"
            raise ConnectionFailedError(
                f"cannot connect to {self.address} ({why})", not_dispatched=True
            ) from None

    def _open(self, call: OutgoingCall, left: float) -> Stream[Any, Any]:
        method = call.method
        return self._channel.request(
            method.path,
            GRPCLIB_CARDINALITY[method.cardinality],
            method.request,
            method.reply,
            timeout=left,
            metadata=call.wire(left),
        )

    async def unary(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> Message:
        stream = self._open(call, left)
        md = call.reply_metadata
        sent = False
        try:
            async with stream:
                await stream.send_request()
                sent = True
                await _send(stream, outgoing)
                reply = await stream.recv_message()
                await stream.recv_trailing_metadata()
        except (GRPCError, TimeoutError, MessageTooLargeError, *_BROKEN) as exc:
            raise _failure(exc, stream, call, sent=sent) from None
        finally:
            _fill(md, stream)
        if reply is None:
            raise no_reply(self.address, call.method)
        result: Message = reply
        return result

    def stream(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> GrpclibStream:
        return GrpclibStream(self._open(call, left), call, outgoing)

    async def close(self) -> None:
        self._channel.close()


class GrpclibStream:
    """A streaming reply, opened on the first ``read``; a request stream is sent by a task."""

    def __init__(self, stream: Stream[Any, Any], call: OutgoingCall, outgoing: Outgoing) -> None:
        self._stream = stream
        self._call = call
        self._outgoing = outgoing
        self._opened = False
        self._sent = False
        self._finished = False  # the server ended the stream and its trailers arrived
        self._sender: asyncio.Task[None] | None = None

    async def read(self) -> Message | None:
        stream = self._stream
        try:
            if not self._opened:
                self._opened = True
                await stream.__aenter__()
                await stream.send_request()
                self._sent = True
                if isinstance(self._outgoing, Message):
                    await stream.send_message(self._outgoing, end=True)
                else:
                    self._sender = asyncio.create_task(_send_all(stream, self._outgoing))
            reply = await stream.recv_message()
            if reply is None:
                await stream.recv_trailing_metadata()
                self._finished = True
                _fill(self._call.reply_metadata, stream)
                return None
        except (GRPCError, TimeoutError, MessageTooLargeError, *_BROKEN) as exc:
            _fill(self._call.reply_metadata, stream)
            raise _failure(exc, stream, self._call, sent=self._sent) from None
        md = self._call.reply_metadata
        if md is not None and stream.initial_metadata:
            md.headers.update(stream.initial_metadata)
        message: Message = reply
        return message

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if not self._opened:
            return
        # Anything but a clean end is reset: an abandoned call must stop on the server, and
        # grpclib would otherwise wait for trailers that may never come.
        if self._sent and not self._finished:
            with contextlib.suppress(GRPCError, TimeoutError, *_BROKEN):
                await self._stream.cancel()
        with contextlib.suppress(GRPCError, TimeoutError, *_BROKEN):
            await self._stream.__aexit__(None, None, None)


async def _send(stream: Stream[Any, Any], outgoing: Outgoing) -> None:
    if isinstance(outgoing, Message):
        await stream.send_message(outgoing, end=True)
    else:
        await _send_all(stream, outgoing)


async def _send_all(stream: Stream[Any, Any], requests: AsyncIterable[Message]) -> None:
    try:
        async for request in requests:
            await stream.send_message(request)
        await stream.end()
    except _BROKEN:
        pass  # the server ended the call early: its status reaches the reader


def _fill(md: ReplyMetadata | None, stream: Stream[Any, Any]) -> None:
    if md is not None:
        md.headers.update(stream.initial_metadata or ())
        md.trailers.update(stream.trailing_metadata or ())


def _failure(
    exc: BaseException, stream: Stream[Any, Any], call: OutgoingCall, *, sent: bool
) -> ServiceBridgeError:
    if isinstance(exc, GRPCError):
        trailers: list[tuple[str, str | bytes]] = list((stream.trailing_metadata or {}).items())
        if isinstance(exc.details, bytes):
            trailers.append((wire.STATUS_DETAILS, exc.details))
        code = _GRPC_STATUS.get(exc.status.value, grpc.StatusCode.UNKNOWN)
        return wire_errors.decode(code, exc.message, tuple(trailers))
    if isinstance(exc, MessageTooLargeError):  # a reply over this bridge's limit
        return wire_errors.too_large(exc.size, exc.limit)
    if isinstance(exc, TimeoutError):
        return CallTimeoutError(f"{call.method.path}: deadline exceeded")
    if isinstance(exc, NotProcessedError):
        return ConnectionFailedError(
            f"{call.method.path}: the server is shutting down and did not take the call",
            not_dispatched=True,
        )
    if not sent:
        return ConnectionFailedError(f"{call.method.path}: connection lost", not_dispatched=True)
    return ConnectionFailedError(f"{call.method.path}: connection lost during the call")


connect = GrpclibConnection
