"""NATS JetStream KV registry with a real nats-server, and failover across callee processes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from echo_service import make_handler, pb, slow_call_in_flight, until
from processes import Callee, start_callee

import runtime_lib as sb

pytestmark = pytest.mark.timeout(60)


async def test_replicas_register_are_found_and_withdraw(
    echo: ModuleType, nats_url: str, transport: sb.NetworkTransport
) -> None:
    replicas = []
    for name in ("r1", "r2"):
        bridge = sb.Bridge("echo", registry=sb.NatsKvRegistry(nats_url))
        bridge.serve(make_handler(echo, name))
        await bridge.start()
        replicas.append(bridge)
    caller = sb.Bridge(
        "caller", registry=sb.NatsKvRegistry(nats_url), rpc=sb.RpcConfig(transport=transport)
    )
    await caller.start()
    try:
        client = caller.client(echo.CalleeClient, service="echo")
        assert len(caller.registry.instances("echo")) == 2
        seen = Counter([(await client.echo(pb().Echo())).handled_by for _ in range(40)])
        assert set(seen) == {"r1", "r2"}
        await replicas[0].stop()
        await until(lambda: len(caller.registry.instances("echo")) == 1, "r1 withdrawn")
        assert {(await client.echo(pb().Echo())).handled_by for _ in range(5)} == {"r2"}
        await replicas[1].stop()
        await until(lambda: not caller.registry.instances("echo"), "r2 withdrawn")
        with pytest.raises(sb.NoLiveInstanceError) as none_left:
            await client.echo(pb().Echo())
        assert none_left.value.retryable
    finally:
        for bridge in (*replicas, caller):
            await bridge.stop()


async def test_caller_is_routed_only_to_matching_contracts(
    echo: ModuleType, nats_url: str, transport: sb.NetworkTransport
) -> None:
    server = sb.Bridge("echo", registry=sb.NatsKvRegistry(nats_url))
    server.serve(make_handler(echo))
    caller = sb.Bridge(
        "caller", registry=sb.NatsKvRegistry(nats_url), rpc=sb.RpcConfig(transport=transport)
    )
    async with server, caller:
        client = caller.client(echo.CalleeClient, service="echo")
        assert (await client.echo(pb().Echo(text="v"))).text == "v"
        v2 = dataclasses.replace(echo._CALLEE_ECHO, contract_hash="v2:newer")
        with pytest.raises(sb.NoLiveInstanceError) as mismatch:
            await client._unary(v2, pb().Echo(), {})
        assert "matching contract" in mismatch.value.message


async def test_a_silent_death_expires_with_the_heartbeat_ttl(
    echo_root: Path, echo: ModuleType, nats_url: str, transport: sb.NetworkTransport
) -> None:
    callee = start_callee(echo_root, "echo", nats=nats_url)  # heartbeat ttl 3 s
    caller = sb.Bridge(
        "caller", registry=sb.NatsKvRegistry(nats_url), rpc=sb.RpcConfig(transport=transport)
    )
    try:
        await caller.start()
        await until(lambda: len(caller.registry.instances("echo")) == 1, "callee registered")
        callee.kill()  # no withdrawal: only the missing heartbeat tells
        for _ in range(100):
            if not caller.registry.instances("echo"):
                break
            await asyncio.sleep(0.1)
        assert not caller.registry.instances("echo")
    finally:
        callee.close()
        await caller.stop()


async def test_failover_when_one_of_three_callees_is_killed_mid_load(
    echo_root: Path, echo: ModuleType, nats_url: str, transport: sb.NetworkTransport
) -> None:
    behaviours = {"slow": {"sleepMs": 20}}
    callees: list[Callee] = [
        start_callee(echo_root, "echo", name=f"p{i}", nats=nats_url, behaviours=behaviours)
        for i in range(3)
    ]
    caller = sb.Bridge(
        "caller", registry=sb.NatsKvRegistry(nats_url), rpc=sb.RpcConfig(transport=transport)
    )
    total, done = 300, Counter[str]()
    failures: list[BaseException] = []
    try:
        await caller.start()
        await until(lambda: len(caller.registry.instances("echo")) == 3, "three registered")
        client = caller.client(echo.CalleeClient, service="echo")
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(total):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                try:
                    # The key makes even a call cut off mid-flight safe to retry elsewhere.
                    reply = await client.slow(
                        pb().Echo(text=str(i)), idempotency_key=f"job-{i}", timeout="10s"
                    )
                    done[reply.handled_by] += 1
                except sb.ServiceBridgeError as exc:
                    failures.append(exc)

        workers = [asyncio.create_task(worker()) for _ in range(16)]
        await until(lambda: sum(done.values()) >= 60, "load under way")
        callees[0].kill()
        await asyncio.wait_for(asyncio.gather(*workers), 40)
        assert failures == []
        assert sum(done.values()) == total
        assert done["p1"] > 0 and done["p2"] > 0
        print(f"failover: replies per callee {dict(done)}")
    finally:
        for callee in callees:
            callee.close()
        await caller.stop()


async def test_a_terminated_callee_drains_and_exits_cleanly(
    echo_root: Path,
    echo: ModuleType,
    transport: sb.NetworkTransport,
) -> None:
    callee = start_callee(echo_root, "echo", behaviours={"slow": {"sleepMs": 2000}})
    try:
        async with slow_call_in_flight(callee.address, echo, transport) as call:
            stopped = asyncio.get_running_loop().run_in_executor(None, callee.terminate)
            assert (await call).text == "last"
            assert await stopped == 0
    finally:
        callee.close()
