"""The grpcio transport (the default): one ``grpc.aio`` channel per endpoint address."""

from __future__ import annotations

import asyncio
import contextlib
import operator
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message

from runtime_lib._errors import ConnectionFailedError, ServiceBridgeError
from runtime_lib._rpc import wire_errors
from runtime_lib._rpc.options import ReplyMetadata
from runtime_lib._rpc.spec import Cardinality, MethodSpec
from runtime_lib._rpc.transports.base import CONNECT_TIMEOUT, Outgoing, OutgoingCall

if TYPE_CHECKING:
    from runtime_lib._security.bridge_tls import TargetTls

# Reconnect quickly after a peer restarts, so a half-open probe finds it.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)

_READY = grpc.ChannelConnectivity.READY
_serialize = operator.methodcaller("SerializeToString")


class GrpcioConnection:
    def __init__(self, address: str, tls: TargetTls | None = None) -> None:
        self.address = address
        if tls is None:
            self.channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        else:
            # The handshake succeeds only if the server's certificate names the service meant.
            options = (*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", tls.server_name))
            self.channel = grpc.aio.secure_channel(address, tls.grpcio_credentials(), options)
        self._stubs: dict[str, Any] = {}

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

    async def unary(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> Message:
        grpc_call = self._stub(call)(outgoing, timeout=left, metadata=_metadata(call, left))
        md = call.reply_metadata
        try:
            reply: Message = await grpc_call
        except grpc.aio.AioRpcError as exc:
            raise failure(exc, md) from None
        if md is not None:
            await _fill_headers(grpc_call, md)
            await _fill_trailers(grpc_call, md)
        return reply

    def stream(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> GrpcioStream:
        grpc_call = self._stub(call)(outgoing, timeout=left, metadata=_metadata(call, left))
        return GrpcioStream(grpc_call, call.reply_metadata)

    async def close(self) -> None:
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
    return make(method.path, _serialize, method.reply.FromString)


def failure(exc: Any, md: ReplyMetadata | None) -> ServiceBridgeError:
    """The runtime error for a failed grpcio call (an ``AioRpcError``, or a sync ``RpcError``,
    which is a ``grpc.Call`` too), filling ``md`` with what the server sent."""
    trailers = tuple(exc.trailing_metadata() or ())
    if md is not None:
        md.headers.update(as_dict(exc.initial_metadata()))
        md.trailers.update(as_dict(trailers))
    return wire_errors.decode(exc.code(), exc.details(), trailers)


def as_dict(metadata: Any) -> dict[str, str | bytes]:
    return {key: value for key, value in metadata or ()}


connect: Callable[[str, TargetTls | None], GrpcioConnection] = GrpcioConnection
