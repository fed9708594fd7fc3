"""Bridge end to end over real gRPC on loopback: cardinalities, errors, context, interop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import grpc
import pytest
from echo_service import SDK, make_handler, pb
from google.rpc import (  # type: ignore[import-untyped]  # googleapis-common-protos ships no stubs
    error_details_pb2,
    status_pb2,
)

import runtime_lib as sb

pytestmark = pytest.mark.timeout(30)


async def _requests(*texts: str) -> AsyncIterator[Any]:
    for i, text in enumerate(texts):
        yield pb().Echo(text=text, n=i)


async def test_all_four_cardinalities(echo: ModuleType, transport: sb.NetworkTransport) -> None:
    handler = make_handler(echo)
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        reply = await client.echo(pb().Echo(text="hi", n=3))
        assert (reply.text, reply.n, reply.handled_by) == ("hi", 3, SDK)
        watched = [r.n async for r in client.watch(pb().Echo(text="w", n=4))]
        assert watched == [0, 1, 2, 3]
        uploaded = await client.upload(_requests("a", "b", "c"))
        assert (uploaded.text, uploaded.n) == ("abc", 3)
        chatted = [r.text async for r in client.chat(_requests("x", "y"))]
        assert chatted == ["X", "Y"]


async def test_handler_context_carries_caller_request_id_key_and_deadline(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    handler = make_handler(echo)
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server, sb.Bridge("billing", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        reply = await client.info(
            pb().Echo(), idempotency_key="k-1", request_id="r-1", timeout="4s"
        )
        assert reply.text == "billing"
        assert reply.handled_by == "k-1"
        assert 0 < reply.n <= 4000
        ctx = handler.contexts[-1]
        assert ctx.request_id == "r-1"
        assert ctx.method == "/conformance.Callee/Info"
        default = await client.info(pb().Echo())
        assert 20_000 < default.n <= 30_000


async def test_handler_errors_reach_the_caller(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    handler = make_handler(echo)
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        with pytest.raises(sb.HandlerError) as declined:
            await client.decline(pb().Echo())
        assert declined.value.handler_code == "CARD_DECLINED"
        assert declined.value.message == "card declined"
        assert declined.value.code is sb.ErrorCode.HANDLER
        assert not declined.value.retryable
        with pytest.raises(sb.HandlerError) as crashed:
            await client.crash(pb().Echo())
        assert crashed.value.handler_code == "INTERNAL"
        assert handler.served["crash"] == 1


async def test_slow_handler_times_out(echo: ModuleType, transport: sb.NetworkTransport) -> None:
    handler = make_handler(echo)
    handler.gate = asyncio.Event()
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        with pytest.raises(sb.CallTimeoutError) as timed_out:
            await client.slow(pb().Echo(), timeout="200ms")
        assert not timed_out.value.retryable
        assert handler.served["slow"] == 1
        handler.gate.set()


async def test_breaking_out_of_a_server_stream_cancels_the_call(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    handler = make_handler(echo)
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        # No reference kept: leaving the loop is all the caller does.
        async for reply in client.watch(pb().Echo(text="w", n=1_000_000)):
            if reply.n == 2:
                break
        for _ in range(200):
            if handler.cancelled:
                break
            await asyncio.sleep(0.01)
        assert handler.cancelled == 1


async def test_plain_grpc_stub_calls_a_bridge_and_reads_rich_errors(echo: ModuleType) -> None:
    stubs = sys.modules["echo_pkg.echo_pb2_grpc"]
    server = sb.Bridge("echo")
    server.serve(make_handler(echo))
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        stub = stubs.CalleeStub(channel)
        reply = await stub.Echo(pb().Echo(text="plain", n=1), timeout=5)
        assert reply.handled_by == SDK
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.Decline(pb().Echo(), timeout=5)
        assert failed.value.code() is grpc.StatusCode.UNKNOWN
        raw = dict(failed.value.trailing_metadata())["grpc-status-details-bin"]
        info = error_details_pb2.ErrorInfo()
        assert status_pb2.Status.FromString(raw).details[0].Unpack(info)
        assert (info.domain, info.reason) == ("servicebridge", "HANDLER")
        assert info.metadata["handler_code"] == "CARD_DECLINED"


async def test_bridge_client_calls_a_plain_grpc_servicer(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    # Generated at test time, so mypy cannot see the module: its classes are Any.
    stubs: Any = sys.modules["echo_pkg.echo_pb2_grpc"]

    class Plain(stubs.CalleeServicer):  # type: ignore[misc]
        async def Echo(self, request: Any, context: Any) -> Any:
            return pb().EchoReply(text=request.text, handled_by="plain")

        async def Decline(self, request: Any, context: Any) -> Any:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "nope")

    server = grpc.aio.server()
    stubs.add_CalleeServicer_to_server(Plain(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
            client = caller.client(echo.CalleeClient, address=f"127.0.0.1:{port}")
            assert (await client.echo(pb().Echo(text="x"))).handled_by == "plain"
            with pytest.raises(sb.ServiceBridgeError) as denied:
                await client.decline(pb().Echo())
            assert denied.value.code is sb.ErrorCode.ACCESS_DENIED
            assert denied.value.message == "nope"
            with pytest.raises(sb.ServiceBridgeError) as missing:
                await client.info(pb().Echo())
            assert missing.value.code is sb.ErrorCode.NOT_FOUND
    finally:
        await server.stop(None)
