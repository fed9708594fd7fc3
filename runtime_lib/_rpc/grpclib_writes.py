"""Writes of one event-loop step sent in one ``send``, for the grpclib server's connections.

grpclib writes every HTTP/2 frame group to the socket as it makes it: a unary reply is three
writes (headers, message, trailers), a stream one per message. On loopback and on busy hosts a
``send`` costs far more than building the frames (the kernel runs the peer's TCP receive in the
sender's time), and each write wakes the client once more. gRPC's core sends a reply in one
batch; here a connection's writes wait until the step that made them is over (``call_soon``)
and leave together. Nothing waits longer than that step, and the bytes held are bounded by
HTTP/2 flow control (a sender out of window yields, which flushes).
"""

from __future__ import annotations

import asyncio
from typing import Any


class BatchedWrites:
    """An ``asyncio.Transport`` stand-in: ``write`` batches, everything else is the transport's."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self._transport.is_closing():
            self._transport.write(b"".join(pending))

    def close(self) -> None:
        self._flush()  # the last replies and GOAWAY go out before the connection closes
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
