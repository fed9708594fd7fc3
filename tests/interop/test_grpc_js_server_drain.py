"""A grpc-js server shutting down gracefully (``tryShutdown``: Node's HTTP/2 GOAWAY, then it
waits for the calls it took) while a bridge's calls are in flight, on both client transports:
every stream it took runs to its end, and once it is gone a call is not dispatched (so a retry
may go elsewhere)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import runtime_lib as sb
from tests.interop.conftest import Interop
from tests.interop.node_peer import node_server

pytestmark = pytest.mark.timeout(120)

STREAMS, REPLIES = 16, 5


async def test_streams_in_flight_end_whole_when_a_grpc_js_server_shuts_down(
    interop: Interop, transport: sb.NetworkTransport, node: str
) -> None:
    pb2: Any = interop.pb2
    request = pb2.StreamingOutputCallRequest(
        response_parameters=[pb2.ResponseParameters(size=8, interval_us=100_000)] * REPLIES
    )
    async with (
        node_server(node) as server,
        sb.Bridge("interop-client", rpc=sb.RpcConfig(transport=transport)) as bridge,
    ):
        client = bridge.client(interop.sb.TestServiceClient, address=server.address)
        first = [asyncio.Event() for _ in range(STREAMS)]

        async def stream(n: int) -> int:
            received = 0
            async for _reply in client.streaming_output_call(request):
                received += 1
                first[n].set()
            return received

        calls = [asyncio.create_task(stream(n)) for n in range(STREAMS)]
        for began in first:
            await began.wait()
        server.shut_down()
        assert await asyncio.gather(*calls) == [REPLIES] * STREAMS
        assert await server.exited(30) == 0
        with pytest.raises(sb.ConnectionFailedError) as refused:
            await client.empty_call(pb2.Empty(), timeout="5s", retry=sb.RetryPolicy(max_attempts=1))
        assert refused.value.not_dispatched
