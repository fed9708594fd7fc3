"""Server-side admission control: a bounded number of running calls plus a bounded queue.

Beyond both bounds, and while draining, a call is refused before any handler code runs, with the
``x-sb-not-dispatched`` marker so the caller may retry it on another endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from runtime_lib.errors import ConnectionFailedError, OverloadedError


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

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._draining:
            raise ConnectionFailedError("server is draining", not_dispatched=True)
        if self._slots.locked() and self._queued >= self._limits.max_queued:
            raise OverloadedError(
                f"server overloaded: {self._limits.max_concurrent} running, "
                f"{self._limits.max_queued} queued",
                not_dispatched=True,
            )
        self._active += 1
        self._idle.clear()
        try:
            self._queued += 1
            try:
                await self._slots.acquire()
            finally:
                self._queued -= 1
            try:
                yield
            finally:
                self._slots.release()
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

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
