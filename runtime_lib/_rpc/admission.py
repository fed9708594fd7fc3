"""Server-side admission control: a bounded number of running calls plus a bounded queue.

Beyond both bounds, and while draining, a call is refused before any handler code runs, with the
``x-sb-not-dispatched`` marker so the caller may retry it on another endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
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
    """Counts its own slots rather than wrapping an ``asyncio.Semaphore``: a call that finds a
    free slot (the common case) is admitted by ``enter_now()`` with no await and no event
    touched, so admission costs the hot path two integer updates."""

    def __init__(self, limits: AdmissionLimits) -> None:
        self._limits = limits
        self._running = 0  # calls holding a slot
        self._waiting: deque[asyncio.Future[None]] = deque()  # queued calls, oldest first
        self._draining = False
        self._idle: asyncio.Event | None = None  # only while wait_idle() waits

    @property
    def active(self) -> int:
        """Calls admitted and not yet finished (running or queued)."""
        return self._running + len(self._waiting)

    def enter_now(self) -> bool:
        """Admit one call at once if a slot is free (True); False if it must ``await
        queue()``. While draining, the call is refused."""
        if self._draining:
            raise ConnectionFailedError("server is draining", not_dispatched=True)
        if self._running < self._limits.max_concurrent and not self._waiting:
            self._running += 1
            return True
        return False

    async def queue(self) -> None:
        """Wait for a slot behind the calls already queued, or refuse the call if the queue
        is full. Every call admitted (this returned) must ``leave()`` when it ends."""
        if len(self._waiting) >= self._limits.max_queued:
            raise OverloadedError(
                f"server overloaded: {self._limits.max_concurrent} running, "
                f"{self._limits.max_queued} queued",
                not_dispatched=True,
            )
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # handed a slot as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # leave() may have dropped it already
                    self._waiting.remove(waiter)
                self._maybe_idle()
            raise

    async def enter(self) -> None:
        """``enter_now()``, else ``queue()``."""
        if not self.enter_now():
            await self.queue()

    def leave(self) -> None:
        """A call admitted by ``enter()`` has ended: its slot passes to the oldest queued call."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a cancelled one is skipped
                waiter.set_result(None)
                return
        self._running -= 1
        if self._idle is not None:  # a drain is waiting (tested here: leave() is per call)
            self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self._idle is not None and not self.active:
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
        if not self.active:
            return True
        self._idle = idle = asyncio.Event()
        try:
            await asyncio.wait_for(idle.wait(), within)
        except TimeoutError:
            return False
        finally:
            self._idle = None
        return True
