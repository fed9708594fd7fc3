"""gRPC's interop client cases (grpc/grpc ``doc/interop-test-descriptions.md``) run by
@grpc/grpc-js, Node's gRPC implementation (tests/interop/node/client.js), against a bridge
serving the sb-gen TestService handler on each server (grpc.aio and grpclib)."""

from __future__ import annotations

import asyncio

import pytest

import runtime_lib as sb
from tests.interop.conftest import Interop
from tests.interop.interop_handler import make_handler
from tests.interop.node_peer import run_client, start_client

pytestmark = pytest.mark.timeout(120)

CASES = (
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "rich_error",  # ours: the google.rpc.Status a handler's error sends, decoded by protobufjs
)


@pytest.mark.parametrize("case", CASES)
async def test_grpc_js_interop_case(
    interop: Interop, server_transport: sb.NetworkTransport, node: str, case: str
) -> None:
    server = sb.Bridge("interop", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(make_handler(interop.sb, interop.pb2))
    async with server:
        failure = await run_client(node, server.address, case)
    assert not failure, failure


async def test_grpc_js_streams_finish_while_the_bridge_drains(
    interop: Interop, server_transport: sb.NetworkTransport, node: str
) -> None:
    # client.js's "drain": 16 server streams of 5 replies, 100 ms apart, in flight when the
    # bridge stops; each must end OK with all five, and a call made meanwhile is UNAVAILABLE.
    server = sb.Bridge("interop", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(make_handler(interop.sb, interop.pb2))
    await server.start()
    client = await start_client(node, server.address, "drain", stdin=asyncio.subprocess.PIPE)
    assert client.stdin is not None and client.stdout is not None
    try:
        begun = await asyncio.wait_for(client.stdout.readline(), 30)
        assert begun == b"begun\n", begun + await client.stdout.read()
        stopping = asyncio.create_task(server.stop())
        # Until the drain began (stop() awaits other work first); the bridge has no event for it.
        while server._started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        client.stdin.write(b"draining\n")
        await client.stdin.drain()
        said = await asyncio.wait_for(client.stdout.read(), 30)
        assert await client.wait() == 0, said.decode(errors="replace")
        await asyncio.wait_for(stopping, 30)
    finally:
        if client.returncode is None:
            client.kill()
            await client.wait()
        await server.stop()
