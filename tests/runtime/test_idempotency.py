"""The server's idempotency replay cache: bounded by count whatever is in flight, scoped by
caller, and a reused key with another request body refused as CONFLICT."""

from __future__ import annotations

import asyncio
from types import ModuleType

import grpc
import pytest
from echo_service import make_handler, pb

import runtime_lib as sb
from runtime_lib._rpc import wire
from runtime_lib._rpc.idempotency import IdempotencyCache

pytestmark = pytest.mark.timeout(30)


async def test_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache = IdempotencyCache(sb.IdempotencyPolicy(ttl=10, max_entries=3), lambda: now[0])
    runs: list[str] = []

    async def work(tag: str) -> str:
        runs.append(tag)
        return tag

    assert await cache.run("c", "m", "k", b"r", lambda: work("1")) == "1"
    assert await cache.run("c", "m", "k", b"r", lambda: work("2")) == "1"
    now[0] = 11
    assert await cache.run("c", "m", "k", b"r", lambda: work("3")) == "3"
    for i in range(10):
        await cache.run("c", "m", f"x{i}", b"r", lambda: work("x"))
    assert len(cache) == 3
    assert runs == ["1", "3"] + ["x"] * 10


async def test_a_call_that_never_finishes_does_not_stop_eviction() -> None:
    cache = IdempotencyCache(sb.IdempotencyPolicy(max_entries=3))
    started = asyncio.Event()

    async def hang() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    async def quick() -> str:
        return "done"

    stuck = asyncio.create_task(cache.run("c", "m", "stuck", b"r", hang))
    await started.wait()
    for i in range(50):
        assert await cache.run("c", "m", f"k{i}", b"r", quick) == "done"
        assert len(cache) <= 3
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert len(cache) == 2  # the cancelled call stored nothing


async def test_a_cache_full_of_running_calls_refuses_before_running() -> None:
    cache = IdempotencyCache(sb.IdempotencyPolicy(max_entries=2))
    release = asyncio.Event()
    both_running = asyncio.Event()
    running = 0

    async def hold() -> str:
        nonlocal running
        running += 1
        if running == 2:
            both_running.set()
        await release.wait()
        return "held"

    held = [asyncio.create_task(cache.run("c", "m", f"h{i}", b"r", hold)) for i in range(2)]
    await both_running.wait()
    with pytest.raises(sb.OverloadedError) as refused:
        await cache.run("c", "m", "third", b"r", hold)
    assert refused.value.not_dispatched
    assert running == 2
    release.set()
    assert await asyncio.gather(*held) == ["held", "held"]


async def test_keys_are_scoped_by_caller_and_a_reused_key_needs_the_same_request() -> None:
    cache = IdempotencyCache(sb.IdempotencyPolicy())
    runs: list[str] = []

    async def work(tag: str) -> str:
        runs.append(tag)
        return tag

    assert await cache.run("orders", "m", "k", b"r", lambda: work("orders")) == "orders"
    assert await cache.run("billing", "m", "k", b"r", lambda: work("billing")) == "billing"
    with pytest.raises(sb.ConflictError, match="'k' was already used on m"):
        await cache.run("orders", "m", "k", b"other body", lambda: work("other"))
    assert runs == ["orders", "billing"]


async def test_over_grpc_another_caller_runs_and_another_body_is_a_conflict(
    echo: ModuleType,
) -> None:
    handler = make_handler(echo)
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server, sb.Bridge("orders") as orders, sb.Bridge("billing") as billing:
        orders_client = orders.client(echo.CalleeClient, address=server.address)
        billing_client = billing.client(echo.CalleeClient, address=server.address)
        first = await orders_client.echo(pb().Echo(text="a"), idempotency_key="k-1")
        again = await orders_client.echo(pb().Echo(text="a"), idempotency_key="k-1")
        assert (first.text, again.text) == ("a", "a")
        assert handler.served["echo"] == 1
        other = await billing_client.echo(pb().Echo(text="b"), idempotency_key="k-1")
        assert other.text == "b"  # not orders' stored reply
        assert handler.served["echo"] == 2
        with pytest.raises(sb.ConflictError) as conflict:
            await orders_client.echo(pb().Echo(text="changed"), idempotency_key="k-1")
        assert conflict.value.code is sb.ErrorCode.CONFLICT
        assert handler.served["echo"] == 2

        # A plain gRPC client sees ALREADY_EXISTS, the payment-API convention.
        async with grpc.aio.insecure_channel(server.address) as channel:
            call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/conformance.Callee/Echo",
                request_serializer=None,
                response_deserializer=None,
            )
            metadata = ((wire.CALLER, "orders"), (wire.IDEMPOTENCY_KEY, "k-1"))
            with pytest.raises(grpc.aio.AioRpcError) as plain:
                await call(pb().Echo(text="changed again").SerializeToString(), metadata=metadata)
        assert plain.value.code() is grpc.StatusCode.ALREADY_EXISTS
