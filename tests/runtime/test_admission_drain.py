"""Admission control under a burst, graceful drain on stop(), and the health service."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import grpc
import pytest
from echo_service import make_handler, pb, until
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpclib.client import Channel
from grpclib.const import Cardinality

import runtime_lib as sb

pytestmark = pytest.mark.timeout(30)
ONCE = sb.RetryPolicy(max_attempts=1)


async def test_burst_beyond_running_plus_queued_is_refused_with_the_marker(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    handler = make_handler(echo)
    handler.gate = asyncio.Event()
    server = sb.Bridge(
        "echo", rpc=sb.RpcConfig(admission=sb.AdmissionLimits(max_concurrent=4, max_queued=4))
    )
    server.serve(handler)
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        calls = [
            asyncio.create_task(client.slow(pb().Echo(text=str(i)), retry=ONCE)) for i in range(20)
        ]
        await until(lambda: sum(c.done() for c in calls) == 12, "12 refusals")
        assert handler.served["slow"] == 4  # four run, four wait in the queue
        handler.gate.set()
        results = await asyncio.gather(*calls, return_exceptions=True)
    refused = [r for r in results if isinstance(r, sb.OverloadedError)]
    served = [r for r in results if not isinstance(r, BaseException)]
    assert len(refused) == 12
    assert all(r.not_dispatched and r.retryable for r in refused)
    assert len(served) == 8
    assert handler.served["slow"] == 8


async def _gated_server(echo: ModuleType, transport: sb.NetworkTransport) -> tuple[sb.Bridge, Any]:
    """A started echo bridge on ``transport``'s server whose ``slow`` calls wait for
    ``handler.gate``."""
    handler = make_handler(echo)
    handler.gate = asyncio.Event()
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=transport))
    server.serve(handler)
    await server.start()
    return server, handler


async def test_stop_drains_in_flight_calls_and_refuses_new_ones(
    echo: ModuleType, transport: sb.NetworkTransport, server_transport: sb.NetworkTransport
) -> None:
    server, handler = await _gated_server(echo, server_transport)
    address = server.address
    async with (
        sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller,
        grpc.aio.insecure_channel(address) as channel,
    ):
        client = caller.client(echo.CalleeClient, address=address)
        in_flight = [asyncio.create_task(client.slow(pb().Echo(text=str(i)))) for i in range(3)]
        await until(lambda: handler.served["slow"] == 3, "three calls running")
        stopping = asyncio.create_task(server.stop())
        # types-grpcio-health-checking declares no methods on HealthStub.
        health: Any = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        await until(lambda: not server._started, "drain begun")
        status = (await health.Check(check, timeout=5)).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(sb.ConnectionFailedError) as refused:
            await client.echo(pb().Echo(), retry=ONCE)
        assert refused.value.not_dispatched
        assert handler.served["echo"] == 0
        assert not stopping.done()
        handler.gate.set()
        replies = await asyncio.gather(*in_flight)
        assert sorted(r.text for r in replies) == ["0", "1", "2"]
        await asyncio.wait_for(stopping, 10)


async def test_stop_sends_every_reply_before_closing_to_a_plain_grpclib_client(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    # Upstream grpclib ends its open streams on a server's GOAWAY, replies not yet read
    # included (the bridge's own grpclib transport does not). A drain that closed the server
    # once the handlers returned, before gRPC had sent their replies, lost ~50 of these 64.
    server, handler = await _gated_server(echo, server_transport)
    host, port = server.address.rsplit(":", 1)
    channel = Channel(host, int(port))

    async def slow(n: int) -> Any:
        request, reply = pb().Echo, pb().EchoReply
        path = "/conformance.Callee/Slow"
        async with channel.request(path, Cardinality.UNARY_UNARY, request, reply) as stream:
            await stream.send_message(request(text=str(n)), end=True)
            answer = await stream.recv_message()
            await stream.recv_trailing_metadata()
            return answer

    try:
        calls = [asyncio.create_task(slow(n)) for n in range(64)]
        await until(lambda: handler.served["slow"] == 64, "64 calls running")
        handler.gate.set()  # the handlers return while the drain begins
        stopping = asyncio.create_task(server.stop())
        replies = await asyncio.gather(*calls, return_exceptions=True)
        await asyncio.wait_for(stopping, 10)
    finally:
        channel.close()
        await server.stop()
    lost = [r for r in replies if isinstance(r, BaseException)]
    assert not lost, f"{len(lost)} of 64 replies lost, the first: {lost[0]!r}"
    assert sorted(int(r.text) for r in replies if not isinstance(r, BaseException)) == list(
        range(64)
    )


async def test_health_service_reports_serving(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(make_handler(echo))
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)
        for name in ("", "conformance.Callee"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await health.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=5)
        assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


async def test_health_watch_sees_the_drain_begin(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(make_handler(echo))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)
            watch = health.Watch(health_pb2.HealthCheckRequest(service="conformance.Callee"))
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            stopping = asyncio.create_task(server.stop())
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
            await asyncio.wait_for(stopping, 10)
    finally:
        await server.stop()
