"""Idempotency replay, in-process transport, timeouts, call_defaults and deadline propagation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from echo_service import SDK, make_handler, pb

import runtime_lib as sb
from runtime_lib._rpc.deadline import parse_timeout

pytestmark = pytest.mark.timeout(30)


async def _requests(*texts: str) -> AsyncIterator[Any]:
    for text in texts:
        yield pb().Echo(text=text)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10.0),
        ("2m", 120.0),
        (3, 3.0),
        (0.25, 0.25),
        (timedelta(seconds=4), 4.0),
    ],
)
def test_timeout_forms(value: sb.Timeout, seconds: float) -> None:
    assert parse_timeout(value) == seconds


@pytest.mark.parametrize("value", ["fast", "10", "-1s", 0, "1d"])
def test_bad_timeouts_are_config_errors(value: sb.Timeout) -> None:
    with pytest.raises(sb.ConfigError):
        parse_timeout(value)


async def test_replay_returns_stored_reply_and_duplicates_wait_for_the_first(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    handler = make_handler(echo, behaviours={"crash": "echo"})
    handler.gate = asyncio.Event()
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        first = asyncio.create_task(client.slow(pb().Echo(text="a", n=1), idempotency_key="pay-1"))
        second = asyncio.create_task(client.slow(pb().Echo(text="a", n=1), idempotency_key="pay-1"))
        for _ in range(300):
            if handler.served["slow"]:
                break
            await asyncio.sleep(0.01)
        handler.gate.set()
        # Whichever arrived first ran; the other waited for it (or, if later, was replayed).
        replies = await asyncio.gather(first, second)
        assert [r.text for r in replies] == ["a", "a"]
        replay = await client.slow(pb().Echo(text="a", n=1), idempotency_key="pay-1")
        assert replay.text == "a"
        other = await client.slow(pb().Echo(text="d"), idempotency_key="pay-2")
        assert other.text == "d"
        assert handler.served["slow"] == 2
        with pytest.raises(sb.HandlerError):
            await client.decline(pb().Echo(), idempotency_key="d-1")
        with pytest.raises(sb.HandlerError):
            await client.decline(pb().Echo(), idempotency_key="d-1")
        assert handler.served["decline"] == 1  # a business answer is replayed too
        handler.fail_next = 1
        with pytest.raises(sb.HandlerError):
            await client.crash(pb().Echo(), idempotency_key="c-1")
        await client.crash(pb().Echo(), idempotency_key="c-1")  # a crash is not stored
        assert handler.served["crash"] == 2


async def test_inproc_transport_all_cardinalities_without_a_socket(echo: ModuleType) -> None:
    handler = make_handler(echo)
    bridge = sb.Bridge("echo")  # no registry entry: auto picks inproc for its own service
    bridge.serve(handler)
    async with bridge:
        client = bridge.client(echo.CalleeClient, service="echo")
        reply = await client.echo(pb().Echo(text="in", n=2))
        assert (reply.text, reply.n, reply.handled_by) == ("in", 2, SDK)
        assert [r.n async for r in client.watch(pb().Echo(n=3))] == [0, 1, 2]
        assert (await client.upload(_requests("a", "b"))).text == "ab"
        assert [r.text async for r in client.chat(_requests("p", "q"))] == ["P", "Q"]
        info = await client.info(pb().Echo(), idempotency_key="ik", timeout="2s")
        assert (info.text, info.handled_by) == ("echo", "ik")
        assert 0 < info.n <= 2000
        with pytest.raises(sb.HandlerError) as declined:
            await client.decline(pb().Echo())
        assert declined.value.handler_code == "CARD_DECLINED"
        handler.gate = asyncio.Event()
        with pytest.raises(sb.CallTimeoutError):
            await client.slow(pb().Echo(), timeout="100ms")
        assert handler.cancelled == 1
        by_address = bridge.client(echo.CalleeClient, address=bridge.address)
        assert (await by_address.echo(pb().Echo(text="x"), transport="inproc")).text == "x"
        assert (await by_address.echo(pb().Echo(text="y"), transport="direct")).text == "y"


async def test_inproc_needs_a_local_handler(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    async with sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, service="echo")
        with pytest.raises(sb.NoLiveInstanceError) as missing:
            await client.echo(pb().Echo(), transport="inproc")
        assert missing.value.retryable


async def test_call_defaults_layer_under_call_options(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    server = sb.Bridge("echo")
    server.serve(make_handler(echo))
    defaults: sb.CallOptions = {"timeout": "3s", "idempotency_key": "default-key"}
    async with (
        server,
        sb.Bridge(
            "caller", rpc=sb.RpcConfig(transport=transport, call_defaults=defaults)
        ) as caller,
    ):
        client = caller.client(echo.CalleeClient, address=server.address)
        info = await client.info(pb().Echo())
        assert 0 < info.n <= 3000
        assert info.handled_by == "default-key"
        info = await client.info(pb().Echo(), timeout="1s", idempotency_key="mine")
        assert 0 < info.n <= 1000
        assert info.handled_by == "mine"
    with pytest.raises(sb.ConfigError):
        sb.Bridge("x", rpc=sb.RpcConfig(call_defaults={"timeout": "soon"}))


async def test_a_call_made_inside_a_handler_inherits_the_remaining_deadline(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    downstream = sb.Bridge("ledger")
    downstream.serve(make_handler(echo, "ledger"))
    await downstream.start()
    front = sb.Bridge("front")
    ledger = front.client(echo.CalleeClient, address=downstream.address)
    handler = make_handler(echo, "front")

    async def relay(request: Any, ctx: sb.CallContext) -> Any:
        return await ledger.info(pb().Echo())  # no timeout of its own: would be 30 s

    handler.echo = relay
    front.serve(handler)
    try:
        async with front, sb.Bridge("edge", rpc=sb.RpcConfig(transport=transport)) as edge:
            client = edge.client(echo.CalleeClient, address=front.address)
            inner = await client.echo(pb().Echo(), timeout="2s")
            assert inner.text == "front"  # ledger saw front as its caller
            assert 0 < inner.n <= 2000
    finally:
        await downstream.stop()


async def test_not_implemented_reaches_the_caller_as_unimplemented_error(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    async def absent(request: Any, ctx: sb.CallContext) -> Any:
        raise NotImplementedError

    handler = make_handler(echo)
    handler.absent = absent  # before serve(): the dispatcher reads it from the instance
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        with pytest.raises(sb.UnimplementedError) as unimplemented:
            await client.absent(pb().Echo())
        assert unimplemented.value.code is sb.ErrorCode.NOT_FOUND
        assert "/conformance.Callee/Absent" in unimplemented.value.message
