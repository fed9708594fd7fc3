"""The RPC measurements every subject runs: sequential latency, concurrent throughput, streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bench.clients import BenchClient
from bench.stats import percentile


async def latency(client: BenchClient, calls: int) -> dict[str, float]:
    """p50 and p99 (microseconds) of ``calls`` unary calls made one after another."""
    samples = []
    for n in range(calls):
        start = time.perf_counter_ns()
        await client.echo(n)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return {"p50": percentile(samples, 0.50), "p99": percentile(samples, 0.99)}


async def throughput(client: BenchClient, calls: int, in_flight: int) -> float:
    """Unary calls per second with ``in_flight`` calls outstanding at all times."""
    per_worker = max(1, calls // in_flight)

    async def worker() -> None:
        for n in range(per_worker):
            await client.echo(n)

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(in_flight):
            group.create_task(worker())
    return per_worker * in_flight / (time.perf_counter() - start)


async def stream_rate(receive: Callable[[], Awaitable[int]], expected: int) -> float:
    """Messages per second of one server stream."""
    start = time.perf_counter()
    received = await receive()
    elapsed = time.perf_counter() - start
    if received != expected:
        raise RuntimeError(f"stream delivered {received} of {expected} messages")
    return received / elapsed
