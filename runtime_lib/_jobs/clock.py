"""The clock the scheduler reads and sleeps on: the system's, or a manual one for tests.

Every schedule decision (fire times, catchup, lease expiry) reads ``now()`` and waits with
``sleep_until()``, so tests drive a whole runner through DST jumps or hours of downtime by
moving a :class:`ManualClock`, with no real waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now() >= when``."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        # The loop's timer runs on the monotonic clock and may wake a little before the wall
        # clock reaches ``when``: sleep again for what is left, so nothing fires early.
        while True:
            delay = (when - self.now()).total_seconds()
            if delay <= 0:
                return
            await asyncio.sleep(delay)


class ManualClock:
    """Time moves only when a test calls :meth:`advance` or :meth:`set`."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._order), future))
        await future

    def advance(self, delta: timedelta | float) -> None:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        self.set(self._now + step)

    def set(self, now: datetime) -> None:
        self._now = max(self._now, now.astimezone(UTC))
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting (cancelled ones included until they are due)."""
        return sum(1 for *_, future in self._sleepers if not future.done())
