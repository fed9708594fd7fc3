"""The grpcio transport (the default): one ``grpc.aio`` channel per endpoint address.

Unary calls go through grpc.aio's own call object, awaited in the caller's task (the reasons and
the limits are in ``grpcio_direct.py``); client streaming and the reply streams use its public API.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import time
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.protobuf.message import DecodeError, Message

from runtime_lib._errors import ConnectionFailedError, InternalError, ServiceBridgeError
from runtime_lib._rpc import wire_errors
from runtime_lib._rpc.options import ReplyMetadata
from runtime_lib._rpc.spec import Cardinality, MethodSpec
from runtime_lib._rpc.transports import grpcio_direct
from runtime_lib._rpc.transports.base import (
    CONNECT_TIMEOUT,
    DEFAULT_MAX_MESSAGE_SIZE,
    Outgoing,
    OutgoingCall,
    no_reply,
)

if TYPE_CHECKING:
    from runtime_lib._security.bridge_tls import TargetTls

# Reconnect quickly after a peer restarts, so a half-open probe finds it.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)

_READY = grpc.ChannelConnectivity.READY
_UNARY = Cardinality.UNARY
_serialize = operator.methodcaller("SerializeToString")


def channel_options(
    tls: TargetTls | None, max_message_size: int
) -> tuple[tuple[str, int | str], ...]:
    """A grpcio channel's options (async and sync): quick reconnects, the receive limit, and
    under TLS the name the server's certificate must hold."""
    options: tuple[tuple[str, int | str], ...] = (
        *CHANNEL_OPTIONS,
        ("grpc.max_receive_message_length", max_message_size),
    )
    if tls is not None:
        # The handshake succeeds only if the server's certificate names the service meant.
        options = (*options, ("grpc.ssl_target_name_override", tls.server_name))
    return options


class GrpcioConnection:
    def __init__(
        self,
        address: str,
        tls: TargetTls | None = None,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.address = address
        options = channel_options(tls, max_message_size)
        if tls is None:
            self.channel = grpc.aio.insecure_channel(address, options=options)
        else:
            self.channel = grpc.aio.secure_channel(address, tls.grpcio_credentials(), options)
        self._stubs: dict[str, Any] = {}
        self._cython = grpcio_direct.cython_channel(self.channel)
        self._open: set[Any] = set()  # direct calls not ended, cancelled by close()

    def _stub(self, call: OutgoingCall) -> Any:
        """The channel's multi-callable for one method, made once and reused by every call."""
        stub = self._stubs.get(call.method.path)
        if stub is None:
            stub = self._stubs[call.method.path] = method_stub(self.channel, call.method)
        return stub

    def is_ready(self) -> bool:
        return self.channel.get_state(try_to_connect=True) is _READY

    async def ready(self, within: float) -> None:
        end = time.monotonic() + min(within, CONNECT_TIMEOUT)
        state = self.channel.get_state(try_to_connect=True)
        while state is not _READY:
            left = end - time.monotonic()
            if state is grpc.ChannelConnectivity.TRANSIENT_FAILURE or left <= 0:
                raise ConnectionFailedError(
                    f"cannot connect to {self.address} ({state.name.lower()})", not_dispatched=True
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.channel.wait_for_state_change(state), left)
            state = self.channel.get_state(try_to_connect=True)

    def unary(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> Awaitable[Message]:
        # Not a coroutine itself: the caller awaits the chosen path's coroutine, no frame between.
        if self._cython is not None and call.method.cardinality is _UNARY:
            return self._direct_unary(call, cast(Message, outgoing), left)
        return self._public_unary(call, outgoing, left)

    async def _direct_unary(self, call: OutgoingCall, request: Message, left: float) -> Message:
        method = call.method
        try:
            grpc_call = self._cython.call(method.path.encode(), time.time() + left, None, None, 0)
            sent = grpc_call.unary_unary(request.SerializeToString(), call.wire(left), None)
        except (TypeError, AttributeError) as exc:  # grpcio's internals changed: nothing sent
            grpcio_direct.give_up(exc)
            self._cython = None
            return await self._public_unary(call, request, left)
        open_calls = self._open
        open_calls.add(grpc_call)
        try:
            raw = await sent
        except asyncio.CancelledError:
            if not grpc_call.done():
                grpc_call.cancel(grpcio_direct.CANCELLED)
            raise
        finally:
            open_calls.discard(grpc_call)
        md = call.reply_metadata
        if raw is not None:  # the status was OK
            if md is not None:
                md.headers.update(as_dict(grpc_call._initial_metadata))
                md.trailers.update(as_dict(grpc_call._status.trailing_metadata()))
            return reply_of(self.address, method, raw)
        if grpc_call.is_locally_cancelled():
            raise asyncio.CancelledError  # close() cancelled it, as grpc.aio's close() does
        status = grpc_call._status
        code = grpcio_direct.STATUS_CODES.get(status.code(), grpc.StatusCode.UNKNOWN)
        if code is grpc.StatusCode.OK:
            raise no_reply(self.address, method)
        raise failed(
            code,
            status.details(),
            grpc_call._initial_metadata,
            status.trailing_metadata(),
            md,
        )

    async def _public_unary(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> Message:
        grpc_call = self._stub(call)(outgoing, timeout=left, metadata=_metadata(call, left))
        md = call.reply_metadata
        try:
            raw: bytes | None = await grpc_call
        except grpc.aio.AioRpcError as exc:
            raise failure(exc, md) from None
        if md is not None:
            await _fill_headers(grpc_call, md)
            await _fill_trailers(grpc_call, md)
        return reply_of(self.address, call.method, raw)

    def stream(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> GrpcioStream:
        grpc_call = self._stub(call)(outgoing, timeout=left, metadata=_metadata(call, left))
        return GrpcioStream(grpc_call, call.reply_metadata)

    async def close(self) -> None:
        grpcio_direct.close_all(self._open)
        await self.channel.close(grace=None)


def _metadata(call: OutgoingCall, left: float) -> grpc.aio.Metadata:
    """The call's metadata as grpc.aio's own type: given a tuple, grpc.aio checks it against
    ``Sequence`` and copies it into one (callgrind: 3-5k of the client's ~335k per call)."""
    return grpc.aio.Metadata(*call.wire(left))


class GrpcioStream:
    def __init__(self, call: Any, md: ReplyMetadata | None) -> None:
        self._call = call
        self._md = md
        self._headers_wanted = md  # None once filled in, or when no one asked for them

    async def read(self) -> Message | None:
        try:
            message = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise failure(exc, self._md) from None
        wanted = self._headers_wanted
        if wanted is not None:
            self._headers_wanted = None
            await _fill_headers(self._call, wanted)
        if message is grpc.aio.EOF:
            if self._md is not None:
                await _fill_trailers(self._call, self._md)
            return None
        reply: Message = message
        return reply

    async def close(self) -> None:
        # Cancelling an ended call is a no-op; an abandoned one must stop.
        self._call.cancel()


async def _fill_headers(grpc_call: Any, md: ReplyMetadata) -> None:
    md.headers.update(as_dict(await grpc_call.initial_metadata()))


async def _fill_trailers(grpc_call: Any, md: ReplyMetadata) -> None:
    md.trailers.update(as_dict(await grpc_call.trailing_metadata()))


def method_stub(channel: grpc.Channel | grpc.aio.Channel, method: MethodSpec[Any, Any]) -> Any:
    """``channel``'s multi-callable for ``method`` (sync and aio channels have the same four)."""
    make = {
        Cardinality.UNARY: channel.unary_unary,
        Cardinality.CLIENT_STREAMING: channel.stream_unary,
        Cardinality.SERVER_STREAMING: channel.unary_stream,
        Cardinality.BIDI_STREAMING: channel.stream_stream,
    }[method.cardinality]
    # A single reply comes as bytes, decoded by reply_of: grpc's own decoding cannot tell a
    # missing reply from an undecodable one (None for both, and an ERROR logged).
    one_reply = method.cardinality in (Cardinality.UNARY, Cardinality.CLIENT_STREAMING)
    return make(method.path, _serialize, None if one_reply else method.reply.FromString)


def reply_of(address: str, method: MethodSpec[Any, Any], raw: bytes | None) -> Message:
    """The reply a call that ended OK brought from ``address``: ``raw``, its bytes (None: the
    server sent no message), decoded; InternalError naming the method if there is none to decode."""
    if raw is None:
        raise no_reply(address, method)
    try:
        reply: Message = method.reply.FromString(raw)
    except DecodeError:
        raise InternalError(
            f"the reply of {address} to {method.path} is not a valid "
            f"{method.reply.DESCRIPTOR.full_name} message (protobuf could not parse its bytes); "
            "check that both sides use the same .proto"
        ) from None
    return reply


def failure(exc: Any, md: ReplyMetadata | None) -> ServiceBridgeError:
    """The runtime error for a failed grpcio call (an ``AioRpcError``, or a sync ``RpcError``,
    which is a ``grpc.Call`` too), filling ``md`` with what the server sent."""
    return failed(exc.code(), exc.details(), exc.initial_metadata(), exc.trailing_metadata(), md)


def failed(
    code: grpc.StatusCode,
    details: str | None,
    headers: Iterable[tuple[str, str | bytes]] | None,
    trailers: Iterable[tuple[str, str | bytes]] | None,
    md: ReplyMetadata | None,
) -> ServiceBridgeError:
    """The runtime error for a call that ended with ``code``, filling ``md`` with what the server
    sent."""
    trailers = tuple(trailers or ())
    if md is not None:
        md.headers.update(as_dict(headers))
        md.trailers.update(as_dict(trailers))
    return wire_errors.decode(code, details, trailers)


def as_dict(metadata: Any) -> dict[str, str | bytes]:
    return {key: value for key, value in metadata or ()}


connect = GrpcioConnection
