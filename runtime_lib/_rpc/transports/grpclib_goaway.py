"""A grpclib ``Channel`` whose connections follow a server's GOAWAY as RFC 9113 §6.8 says.

A stopping gRPC server sends GOAWAY (last stream id 2^31-1) and a PING in one write, right
after the replies of its last calls; later a second GOAWAY with the last stream it took, then it
closes. Two upstream flaws lost those replies: h2 refuses every frame after a received GOAWAY
but another GOAWAY (python-hyper/h2#1199), so the PING raised and grpclib dropped all events of
that read, replies included; and grpclib ends every open stream on any GOAWAY, even one whose
reply had fully arrived but was not read yet. Here a GOAWAY only stops new calls on the
connection (the channel opens a new one); a stream above its last stream id ends as
:class:`NotProcessedError` (the server never saw it: safe to send elsewhere), as does one the
server resets with REFUSED_STREAM (§8.7); the others run to their end, and the connection closes
once none is left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grpclib.client import Channel, Handler
from grpclib.exceptions import StreamTerminatedError
from grpclib.protocol import AbstractHandler, Connection, EventsProcessor, H2Protocol, Stream
from h2.connection import ConnectionInputs, ConnectionState, H2ConnectionStateMachine
from h2.errors import ErrorCodes
from h2.events import ConnectionTerminated, StreamEnded, StreamReset

from runtime_lib._rpc.grpclib_limits import limit_messages
from runtime_lib._rpc.transports.base import DEFAULT_MAX_MESSAGE_SIZE


class NotProcessedError(StreamTerminatedError):
    """The server's GOAWAY names a last stream below this one: it never processed the call."""


class _StaysOpenOnGoaway(H2ConnectionStateMachine):
    # h2 goes CLOSED on a received GOAWAY and then refuses the PING, HEADERS and DATA that
    # §6.8 allows after it. The connection stays open; no new stream starts on it because the
    # handler is marked lost (grpclib's channel then connects anew).
    _transitions = {
        **H2ConnectionStateMachine._transitions,
        (ConnectionState.CLIENT_OPEN, ConnectionInputs.RECV_GOAWAY): (
            None,
            ConnectionState.CLIENT_OPEN,
        ),
    }


class _Processor(EventsProcessor):
    """Ends a stream on GOAWAY or connection loss only if its reply has not fully arrived."""

    def __init__(self, handler: AbstractHandler, connection: Connection) -> None:
        super().__init__(handler, connection)
        self._ended: set[int] = set()  # the server ended these: all they will get is buffered
        self._closing: str | None = None  # why, once no new stream may start here

    def register(self, stream: Stream) -> Callable[[], None]:
        release = super().register(stream)
        stream_id = stream.id

        def release_then_close_if_idle() -> None:
            release()
            self._ended.discard(stream_id)
            self._close_if_idle()

        return release_then_close_if_idle

    def process_stream_ended(self, event: StreamEnded) -> None:
        super().process_stream_ended(event)
        self._ended.add(event.stream_id)

    def process_stream_reset(self, event: StreamReset) -> None:
        super().process_stream_reset(event)
        stream = self.streams.get(event.stream_id)
        if event.error_code == ErrorCodes.REFUSED_STREAM and stream and stream.wrapper:
            # §8.7: a refused stream was not processed. Said again after grpclib's generic
            # termination, so that this error is the one the call raises.
            stream.wrapper.cancel(
                NotProcessedError(f"the server refused stream {event.stream_id} unprocessed")
            )

    def process_connection_terminated(self, event: ConnectionTerminated) -> None:
        last = event.last_stream_id if event.last_stream_id is not None else 0
        for stream_id, stream in self.streams.items():
            if stream_id > last and stream_id not in self._ended and stream.wrapper is not None:
                stream.wrapper.cancel(
                    NotProcessedError(
                        f"the server sent GOAWAY before processing stream {stream_id}"
                    )
                )
        reason = f"Received GOAWAY frame, closing connection; error_code: {event.error_code}"
        if event.error_code == ErrorCodes.NO_ERROR:
            self._wind_down(reason)  # the streams the server took run to their end
        else:
            self.close(reason)  # the server closes the connection after an error (§5.4.1)

    def close(self, reason: str = "Connection closed") -> None:
        for stream_id, stream in self.streams.items():
            already = stream.wrapper is not None and stream.wrapper.cancelled
            if stream_id not in self._ended and not already:
                stream.__terminated__(reason)
        self._wind_down(reason)

    def _wind_down(self, reason: str) -> None:
        self.handler.close()  # no new stream here: grpclib's channel connects anew
        self._closing = reason
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self._closing is not None and not self.streams:
            super().close(self._closing)


class _Protocol(H2Protocol):
    max_message_size = DEFAULT_MAX_MESSAGE_SIZE

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        limit_messages(self.connection, self.max_message_size)
        h2_connection = self.connection._connection  # grpclib builds it inside connection_made
        machine = _StaysOpenOnGoaway()
        machine.state = h2_connection.state_machine.state
        h2_connection.state_machine = machine
        self.processor = _Processor(self.handler, self.connection)


class GoawayChannel(Channel):
    """``grpclib.client.Channel`` with :class:`_Protocol` connections, which receive messages
    of at most ``max_message_size`` bytes."""

    max_message_size = DEFAULT_MAX_MESSAGE_SIZE

    def _protocol_factory(self) -> H2Protocol:
        protocol = _Protocol(Handler(), self._config, self._h2_config)
        protocol.max_message_size = self.max_message_size
        return protocol
