"""What the grpclib server does beyond the suites both servers run: a call whose deadline passed
before it started is DEADLINE_EXCEEDED (grpclib alone answers UNKNOWN), told to a client
speaking HTTP/2 by hand, so the deadline is already over when the server reads it."""

from __future__ import annotations

import asyncio
import struct
from types import ModuleType

import h2.config
import h2.connection
import h2.events
import pytest
from echo_service import make_handler, pb

import runtime_lib as sb

pytestmark = pytest.mark.timeout(30)


async def _call(address: str, path: str, request: bytes, grpc_timeout: str) -> dict[str, str]:
    """One unary call over a bare HTTP/2 connection; the response's headers and trailers."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(header_encoding="utf-8"))
    conn.initiate_connection()
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(
        stream_id,
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", address),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", grpc_timeout),
        ],
    )
    conn.send_data(stream_id, struct.pack(">?I", False, len(request)) + request, end_stream=True)
    writer.write(conn.data_to_send())
    received: dict[str, str] = {}
    try:
        while True:
            data = await reader.read(65536)
            assert data, "the server closed the connection before ending the call"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    received.update((str(k), str(v)) for k, v in event.headers)
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    return received
            writer.write(conn.data_to_send())
    finally:
        writer.close()


async def test_a_call_whose_deadline_passed_before_it_started_is_deadline_exceeded(
    echo: ModuleType,
) -> None:
    handler = make_handler(echo)
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport="grpclib"))
    server.serve(handler)
    async with server:
        request = pb().Echo(text="late").SerializeToString()
        answer = await _call(server.address, "/conformance.Callee/Echo", request, "1n")
    assert answer["grpc-status"] == "4"  # DEADLINE_EXCEEDED
    assert handler.served["echo"] == 0
