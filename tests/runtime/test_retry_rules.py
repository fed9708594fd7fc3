"""Each retry rule, proven with counting servers on real gRPC."""

from __future__ import annotations

import asyncio
import dataclasses
from types import ModuleType
from typing import Any

import pytest
from echo_service import make_handler, pb
from faults import Faults

import runtime_lib as sb
from runtime_lib._nats_server import free_port

pytestmark = pytest.mark.timeout(30)

ECHO = "/conformance.Callee/Echo"
FAST = sb.RetryPolicy(base_delay=0.01, max_delay=0.05)


async def _serving(
    echo: ModuleType, name: str = "a", admission: sb.AdmissionLimits | None = None
) -> tuple[sb.Bridge, Any, Faults]:
    faults = Faults()
    handler = make_handler(echo, name)
    rpc = sb.RpcConfig(interceptors=[faults], admission=admission or sb.AdmissionLimits())
    bridge = sb.Bridge("echo", rpc=rpc)
    bridge.serve(handler)
    await bridge.start()
    return bridge, handler, faults


@pytest.mark.parametrize("status", ["UNAVAILABLE", "INTERNAL", "UNKNOWN", "ABORTED"])
async def test_ambiguous_failure_without_key_is_not_retried(
    echo: ModuleType, status: str, transport: sb.NetworkTransport
) -> None:
    server, handler, faults = await _serving(echo)
    faults.plan[ECHO] = [status]
    try:
        async with sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
            client = caller.client(echo.CalleeClient, address=server.address)
            with pytest.raises(sb.ServiceBridgeError) as failed:
                await client.echo(pb().Echo(text="once"), retry=FAST)
            assert not failed.value.not_dispatched
            assert handler.served["echo"] == 1
            assert faults.seen[ECHO] == 1
    finally:
        await server.stop()


@pytest.mark.parametrize("status", ["UNAVAILABLE", "INTERNAL", "UNKNOWN", "ABORTED"])
async def test_ambiguous_failure_with_key_runs_handler_once_and_replies(
    echo: ModuleType, status: str, transport: sb.NetworkTransport
) -> None:
    server, handler, faults = await _serving(echo)
    faults.plan[ECHO] = [status]
    try:
        async with sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
            client = caller.client(echo.CalleeClient, address=server.address)
            reply = await client.echo(pb().Echo(text="safe"), idempotency_key="k1", retry=FAST)
            assert reply.text == "safe"
            assert faults.seen[ECHO] == 2  # sent twice...
            assert handler.served["echo"] == 1  # ...run once: the replay came from the cache
    finally:
        await server.stop()


async def test_definite_answers_are_never_retried_even_with_a_key(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    server, handler, faults = await _serving(echo)
    handler.gate = asyncio.Event()
    faults.plan[ECHO] = ["DENY"]
    try:
        async with sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
            client = caller.client(echo.CalleeClient, address=server.address)
            opts: Any = {"idempotency_key": "k", "retry": FAST}
            with pytest.raises(sb.ServiceBridgeError) as denied:
                await client.echo(pb().Echo(), **opts)
            assert denied.value.code is sb.ErrorCode.ACCESS_DENIED
            with pytest.raises(sb.HandlerError):
                await client.decline(pb().Echo(), **opts)
            with pytest.raises(sb.CallTimeoutError):
                await client.slow(pb().Echo(), timeout="300ms", **opts)
            mismatched = dataclasses.replace(echo._CALLEE_ECHO, contract_hash="v2:other")
            with pytest.raises(sb.ValidationError) as invalid:
                await client._unary(mismatched, pb().Echo(), opts)
            assert "v2:other" in invalid.value.message
            assert echo._CALLEE_ECHO.contract_hash in invalid.value.message
            assert faults.seen[ECHO] == 2
            assert faults.seen["/conformance.Callee/Decline"] == 1
            assert faults.seen["/conformance.Callee/Slow"] == 1
            assert handler.served["echo"] == 0
            handler.gate.set()
    finally:
        await server.stop()


async def test_no_connection_is_retried_on_another_endpoint(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    server, handler, _ = await _serving(echo)
    dead = f"127.0.0.1:{free_port()}"
    try:
        registry = {"echo": [dead, server.address]}
        async with sb.Bridge(
            "caller", registry=registry, rpc=sb.RpcConfig(transport=transport)
        ) as caller:
            client = caller.client(echo.CalleeClient, service="echo")
            for i in range(6):  # no key: only the pre-dispatch proof allows these retries
                assert (await client.echo(pb().Echo(n=i), retry=FAST)).n == i
            assert handler.served["echo"] == 6
    finally:
        await server.stop()


async def test_not_dispatched_marker_is_retried_on_another_endpoint(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    full, busy, refusals = await _serving(echo, "full", admission=sb.AdmissionLimits(1, 0))
    spare, idle, _ = await _serving(echo, "spare")
    busy.gate = asyncio.Event()
    try:
        async with sb.Bridge(
            "holder", registry={"echo": [full.address]}, rpc=sb.RpcConfig(transport=transport)
        ) as holder:
            blocker = asyncio.create_task(
                holder.client(echo.CalleeClient, service="echo").slow(pb().Echo())
            )
            for _ in range(500):
                if busy.served["slow"]:
                    break
                await asyncio.sleep(0.01)
            registry = {"echo": [full.address, spare.address]}
            async with sb.Bridge(
                "caller", registry=registry, rpc=sb.RpcConfig(transport=transport)
            ) as caller:
                client = caller.client(echo.CalleeClient, service="echo")
                replies = [await client.echo(pb().Echo(n=i), retry=FAST) for i in range(16)]
                assert {r.handled_by for r in replies} == {"spare"}
                assert idle.served["echo"] == 16
                assert busy.served["echo"] == 0
                # The balancer sent some to the full server first (each call: 1 in 2), which
                # refused them with the marker; no key, yet they were retried on the spare.
                assert refusals.seen[ECHO] >= 1
            busy.gate.set()
            assert (await blocker).handled_by == "full"
    finally:
        await full.stop()
        await spare.stop()


async def test_retry_disabled_with_one_attempt(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    async with sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=dead)
        with pytest.raises(sb.ConnectionFailedError) as failed:
            await client.echo(pb().Echo(), retry=sb.RetryPolicy(max_attempts=1))
        assert failed.value.retryable
        assert failed.value.not_dispatched
