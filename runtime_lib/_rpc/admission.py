"""Server-side admission control: a bounded number of running calls plus a bounded queue.

Beyond both bounds, and while draining, a call is refused before any handler code runs, with the
``x-sb-not-dispatched`` marker so the caller may retry it on another endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from runtime_lib._errors import ConnectionFailedError, OverloadedError


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """At most ``max_concurrent`` calls run at once and ``max_queued`` wait for a slot."""

    max_concurrent: int = 256
    max_queued: int = 256


class Admission:
    def __init__(self, limits: AdmissionLimits) -> None:
        self._limits = limits
        self._slots = asyncio.Semaphore(limits.max_concurrent)
        self._queued = 0
        self._active = 0
        self._draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active(self) -> int:
        """Calls admitted and not yet finished (running or queued)."""
        return self._active

    async def enter(self) -> None:
        """Admit one call, waiting in the queue for a slot if none is free, or refuse it; every
        call admitted (this returned) must ``leave()`` when it ends."""
        if self._draining:
            raise ConnectionFailedError("server is draining", not_dispatched=True)
        if self._queued >= self._limits.max_queued and self._slots.locked():
            raise OverloadedError(
                f"server overloaded: {self._limits.max_concurrent} running, "
                f"{self._limits.max_queued} queued",
                not_dispatched=True,
            )
        if self._active == 0:
            self._idle.clear()
        self._active += 1
        self._queued += 1
        try:
            await self._slots.acquire()
        except BaseException:
            self._finished()
            raise
        finally:
            self._queued -= 1

    def leave(self) -> None:
        """A call admitted by ``enter()`` has ended."""
        self._slots.release()
        self._finished()

    def _finished(self) -> None:
        self._active -= 1
        if self._active == 0:
            self._idle.set()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """``enter()`` and ``leave()`` around a block."""
        await self.enter()
        try:
            yield
        finally:
            self.leave()

    def drain(self) -> None:
        """Refuse new calls from now on; admitted ones (running or queued) still finish."""
        self._draining = True

    async def wait_idle(self, within: float) -> bool:
        """Wait until every admitted call has finished; False if ``within`` seconds passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True
