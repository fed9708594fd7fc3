"""Circuit breaker cycle (fake clock, then on real gRPC) and the power-of-two-choices balancer."""

from __future__ import annotations

import asyncio
import random
import sys
from types import ModuleType
from typing import Any

import pytest
from echo_service import make_handler
from faults import Faults

import runtime_lib as sb
from runtime_lib._rpc.balancer import pick
from runtime_lib._rpc.breaker import BreakerState, CircuitBreaker
from runtime_lib._rpc.endpoints import EndpointPool, close_all
from runtime_lib._rpc.transports import grpcio
from runtime_lib._rpc.transports.base import Connection

pytestmark = pytest.mark.timeout(30)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _state(breaker: CircuitBreaker) -> BreakerState:
    # A call, not the property: mypy would keep the state narrowed from one assert to the next.
    return breaker.state


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(sb.BreakerPolicy(), clock)
    for _ in range(5):
        assert breaker.acquire()
        breaker.record(True)
    for _ in range(5):
        assert breaker.acquire()
        breaker.record(False)
    assert _state(breaker) is BreakerState.CLOSED  # 50 % is not more than 50 %
    assert breaker.acquire()
    breaker.record(False)
    assert _state(breaker) is BreakerState.OPEN
    assert not breaker.acquire()
    clock.now += 30
    assert _state(breaker) is BreakerState.HALF_OPEN
    assert breaker.acquire()  # the one probe
    assert not breaker.acquire()
    breaker.record(False)
    assert _state(breaker) is BreakerState.OPEN
    clock.now += 30
    assert breaker.acquire()
    breaker.record(True)
    assert _state(breaker) is BreakerState.CLOSED


def test_breaker_needs_min_calls_within_the_window() -> None:
    clock = Clock()
    breaker = CircuitBreaker(sb.BreakerPolicy(), clock)
    for _ in range(9):
        breaker.acquire()
        breaker.record(False)
    assert breaker.state is BreakerState.CLOSED
    clock.now += 11  # the nine failures leave the window
    breaker.acquire()
    breaker.record(False)
    assert breaker.state is BreakerState.CLOSED


def test_cancelled_probe_frees_the_half_open_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(sb.BreakerPolicy(min_calls=1), clock)
    breaker.acquire()
    breaker.record(False)
    clock.now += 30
    assert breaker.acquire()
    breaker.release()
    assert breaker.acquire()


async def test_power_of_two_choices_prefers_fewer_in_flight_and_skips_open() -> None:
    pool: EndpointPool[Connection] = EndpointPool(sb.BreakerPolicy(min_calls=1), grpcio.connect)
    try:
        a, b, c = (pool.get(f"127.0.0.1:{p}") for p in (1, 2, 3))
        a.inflight, b.inflight, c.inflight = 5, 0, 9
        rng = random.Random(7)
        picks = [pick([a, b, c], rng) for _ in range(300)]
        assert picks.count(c) == 0  # the busiest loses every pairing
        assert picks.count(b) > picks.count(a)
        b.breaker.acquire()
        b.breaker.record(False)  # open
        assert {pick([a, b, c], rng) for _ in range(50)} <= {a, c}
        assert pick([b], rng) is None
        assert pick([a, c], rng, frozenset({a.address})) is c
    finally:
        await close_all(pool)


async def test_breaker_cycle_on_real_grpc(echo: ModuleType, transport: sb.NetworkTransport) -> None:
    pb: Any = sys.modules["echo_pkg.echo_pb2"]
    faults = Faults()
    server = sb.Bridge("echo", rpc=sb.RpcConfig(interceptors=[faults]))
    server.serve(make_handler(echo))
    await server.start()
    echo_path = "/conformance.Callee/Echo"
    once = sb.RetryPolicy(max_attempts=1)
    try:
        policy = sb.BreakerPolicy(open_for=0.3)
        async with sb.Bridge(
            "caller", rpc=sb.RpcConfig(transport=transport, breaker=policy)
        ) as caller:
            client = caller.client(echo.CalleeClient, address=server.address)
            faults.plan[echo_path] = ["INTERNAL"] * 10
            for _ in range(10):
                with pytest.raises(sb.ServiceBridgeError):
                    await client.echo(pb.Echo(), retry=once)
            # Open: refused here, without reaching the server.
            with pytest.raises(sb.ConnectionFailedError) as refused:
                await client.echo(pb.Echo(), retry=once)
            assert "open circuit breaker" in refused.value.message
            assert faults.seen[echo_path] == 10
            await asyncio.sleep(0.4)  # past open_for: half-open lets one probe through
            assert (await client.echo(pb.Echo(text="probe"), retry=once)).text == "probe"
            assert faults.seen[echo_path] == 11
            for i in range(3):  # closed again
                assert (await client.echo(pb.Echo(n=i), retry=once)).n == i
    finally:
        await server.stop()
