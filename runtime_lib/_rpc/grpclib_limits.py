"""The largest message a grpclib connection receives (``RpcConfig.max_message_size``), as gRPC
core's ``grpc.max_receive_message_length`` is for grpcio.

grpclib has no limit: it buffers whatever length a message's 5-byte prefix declares (up to
4 GiB), acknowledging the data as it comes, so one call could exhaust the receiver's memory.
Streams of a limited connection refuse such a message before reading its body:
``MessageTooLargeError``, which a server sends as gRPC core does.
"""

from __future__ import annotations

from typing import Any

from grpclib.protocol import Connection, Stream

from runtime_lib._rpc.wire_errors import MessageTooLargeError


class _LimitedStream(Stream):
    limit = 0

    async def recv_data(self, size: int) -> bytes:
        # grpclib reads a message as its prefix (5 bytes), then its body in one read.
        if size > self.limit:
            raise MessageTooLargeError(size, self.limit)
        return await super().recv_data(size)


def limit_messages(connection: Connection, limit: int) -> None:
    """Streams made on ``connection`` from now on refuse a message longer than ``limit``."""

    def create_stream(*, stream_id: int | None = None, wrapper: Any = None) -> Stream:
        stream = _LimitedStream(
            connection,
            connection._connection,
            connection._transport,
            stream_id=stream_id,
            wrapper=wrapper,
        )
        stream.limit = limit
        return stream

    # grpclib makes every stream, its client's and its server's, through this method.
    connection.create_stream = create_stream  # type: ignore[method-assign]
