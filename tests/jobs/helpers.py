"""Shared pieces of the jobs tests: a condition wait, and runners on one manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from runtime_lib._jobs import JobStore, ManualClock, MemoryBucket
from runtime_lib._jobs.control import Jobs
from runtime_lib._telemetry.api import Telemetry

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


async def until(condition: Callable[[], bool | Awaitable[bool]], limit: float = 30.0) -> None:
    """Wait for ``condition`` to hold, checked every few ms; fail the test after ``limit`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > end:
            pytest.fail(f"timed out after {limit} s waiting for {condition}")
        await asyncio.sleep(0.002)


class Cluster:
    """Instances of one service sharing memory buckets and one manual clock."""

    def __init__(self, start: datetime = START) -> None:
        self.clock = ManualClock(start)
        self.state = MemoryBucket()
        self.leases = MemoryBucket()
        self.telemetry = Telemetry("svc")

    def instance(self) -> Jobs:
        store = JobStore.in_memory("svc", self.state, self.leases)
        return Jobs("svc", telemetry=self.telemetry, store=store, clock=self.clock)
