"""A bare HTTP/2 server for tests (h2 on a real asyncio socket): it does what no gRPC server can
be made to do on cue. A subclass answers each request once its stream ended (``request_ended``),
through ``self.h2``; what it queued there is written after every read."""

from __future__ import annotations

import asyncio

import h2.config
import h2.connection
import h2.events

GRPC_HEADERS = [(":status", "200"), ("content-type", "application/grpc")]


class H2Peer(asyncio.Protocol):
    def __init__(self) -> None:
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.h2.initiate_connection()
        transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if isinstance(event, h2.events.StreamEnded):
                self.request_ended(event.stream_id)
        self.transport.write(self.h2.data_to_send())

    def request_ended(self, stream_id: int) -> None:
        """The client sent all of the request on ``stream_id``."""
        raise NotImplementedError
