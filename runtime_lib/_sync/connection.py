"""Blocking calls to one endpoint: a grpcio sync channel, the sync twin of the ``grpc.aio``
transport. Like it, every failure leaves as a ``ServiceBridgeError`` (never a grpc exception),
and ``ready()`` failing means nothing was sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from google.protobuf.message import Message

from runtime_lib._errors import ConnectionFailedError
from runtime_lib._rpc.options import ReplyMetadata
from runtime_lib._rpc.transports.base import (
    CONNECT_TIMEOUT,
    DEFAULT_MAX_MESSAGE_SIZE,
    OutgoingCall,
)
from runtime_lib._rpc.transports.grpcio import (
    as_dict,
    channel_options,
    failure,
    method_stub,
    reply_of,
)

if TYPE_CHECKING:
    from runtime_lib._security.bridge_tls import TargetTls

SyncOutgoing = Message | Iterable[Message]
"""What a sync call sends: one request, or a request stream (client and bidi streaming)."""

_READY = grpc.ChannelConnectivity.READY
_FAILED = grpc.ChannelConnectivity.TRANSIENT_FAILURE
_IDLE = grpc.ChannelConnectivity.IDLE


class SyncReplyStream(Protocol):
    """The replies of a server-streaming or bidi call."""

    def read(self) -> Message | None:
        """The next reply, or None once the server ended the stream."""
        ...

    def close(self) -> None:
        """Stop the call if it still runs (a no-op once it ended)."""
        ...


class SyncConnection:
    """One grpcio channel. Its connectivity is followed through ``channel.subscribe`` (grpc's
    own watcher thread), so a connected channel's ``ready`` returns without waiting."""

    def __init__(
        self,
        address: str,
        tls: TargetTls | None = None,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.address = address
        options = channel_options(tls, max_message_size)  # as the async grpcio transport's
        if tls is None:
            self.channel = grpc.insecure_channel(address, options=options)
        else:
            self.channel = grpc.secure_channel(address, tls.grpcio_credentials(), options)
        self._stubs: dict[str, Any] = {}
        self._changed = threading.Condition()
        self._state: grpc.ChannelConnectivity | None = None
        self._was_active = False
        self.channel.subscribe(self._follow, try_to_connect=True)

    def _follow(self, state: grpc.ChannelConnectivity) -> None:
        with self._changed:
            self._state = state
            # The first report is IDLE, before the subscription's own connect begins.
            self._was_active = self._was_active or state is not _IDLE
            self._changed.notify_all()

    def _stub(self, call: OutgoingCall) -> Any:
        """The channel's multi-callable for one method, made once and reused by every call."""
        stub = self._stubs.get(call.method.path)
        if stub is None:
            stub = self._stubs[call.method.path] = method_stub(self.channel, call.method)
        return stub

    def ready(self, within: float) -> None:
        """Return once connected (at once when it is); ConnectionFailedError (not dispatched)
        when the channel fails to connect or is not connected within ``within`` seconds (capped
        by CONNECT_TIMEOUT).

        A channel goes idle when its connection closes (the peer stopped): it is asked to
        connect again, once, as ``get_state(try_to_connect=True)`` does on the aio side. Not
        before it was ever active: the first report is IDLE while the subscription's own
        connect starts, and a second request then could outlive ``close()`` in grpcio's watcher
        thread.
        """
        if self._state is _READY:
            return
        end = time.monotonic() + min(within, CONNECT_TIMEOUT)
        with self._changed:
            if self._state is _IDLE and self._was_active:
                self._reconnect()
            while self._state is not _READY:
                left = end - time.monotonic()
                if self._state is _FAILED or left <= 0:
                    state = "not connected" if self._state is None else self._state.name.lower()
                    raise ConnectionFailedError(
                        f"cannot connect to {self.address} ({state})", not_dispatched=True
                    )
                self._changed.wait(left)

    def _reconnect(self) -> None:
        """Ask an idle channel to connect: the sync API's only way is a subscription asking."""

        def ignore(state: grpc.ChannelConnectivity) -> None:
            return None

        self.channel.subscribe(ignore, try_to_connect=True)
        self.channel.unsubscribe(ignore)

    def unary(self, call: OutgoingCall, outgoing: SyncOutgoing, left: float) -> Message:
        """A call with one reply (unary or client streaming) with ``left`` seconds to go."""
        md = call.reply_metadata
        sent = _requests(outgoing)
        try:
            raw, grpc_call = self._stub(call).with_call(
                sent, timeout=left, metadata=call.wire(left)
            )
        except grpc.RpcError as exc:
            raise failure(exc, md) from None
        if md is not None:
            md.headers.update(as_dict(grpc_call.initial_metadata()))
            md.trailers.update(as_dict(grpc_call.trailing_metadata()))
        return reply_of(self.address, call.method, raw)

    def stream(self, call: OutgoingCall, outgoing: SyncOutgoing, left: float) -> SyncReplyStream:
        """A call with a reply stream (server streaming or bidi)."""
        sent = _requests(outgoing)
        grpc_call = self._stub(call)(sent, timeout=left, metadata=call.wire(left))
        return _GrpcStream(grpc_call, call.reply_metadata)

    def close(self) -> None:
        self.channel.unsubscribe(self._follow)
        self.channel.close()


class _GrpcStream:
    def __init__(self, call: Any, md: ReplyMetadata | None) -> None:
        self._call = call
        self._replies: Iterator[Message] = call
        self._md = md
        self._headers_read = md is None

    def read(self) -> Message | None:
        md = self._md
        try:
            message = next(self._replies, None)
        except grpc.RpcError as exc:
            raise failure(exc, md) from None
        if not self._headers_read:
            self._headers_read = True
            assert md is not None
            md.headers.update(as_dict(self._call.initial_metadata()))
        if message is None and md is not None:
            md.trailers.update(as_dict(self._call.trailing_metadata()))
        return message

    def close(self) -> None:
        # Cancelling an ended call is a no-op; an abandoned one must stop.
        self._call.cancel()


def _requests(outgoing: SyncOutgoing) -> Message | Iterator[Message]:
    """One request as it is, a request stream as the iterator grpcio reads (it calls next())."""
    return outgoing if isinstance(outgoing, Message) else iter(outgoing)
