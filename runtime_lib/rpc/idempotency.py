"""Server-side replay cache keyed by (method, idempotency key).

A replay within the TTL returns the stored outcome without running the handler; a concurrent
duplicate waits for the first. Only deterministic outcomes are stored: a reply or a
``HandlerError``. A crash or a cancelled call stores nothing, so a retry runs the handler again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from runtime_lib.errors import HandlerError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class IdempotencyPolicy:
    """Outcomes are kept ``ttl`` seconds; at most ``max_entries`` (oldest dropped first)."""

    ttl: float = 24 * 3600.0
    max_entries: int = 10_000


class _NotStored(Exception):
    """Tells waiting duplicates that the first call left no outcome, so one of them runs."""


@dataclass(slots=True)
class _Entry:
    outcome: asyncio.Future[Any]
    expires: float


class IdempotencyCache:
    def __init__(self, policy: IdempotencyPolicy, clock: Callable[[], float] = time.monotonic):
        self._policy = policy
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def run(self, method: str, key: str, call: Callable[[], Awaitable[T]]) -> T:
        slot = (method, key)
        while True:
            self._evict()
            entry = self._entries.get(slot)
            if entry is None:
                break
            try:
                result: T = await asyncio.shield(entry.outcome)
            except _NotStored:
                continue
            return result
        outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._entries[slot] = _Entry(outcome, self._clock() + self._policy.ttl)
        try:
            reply = await call()
        except HandlerError as exc:
            outcome.set_exception(exc)
            outcome.exception()  # retrieved here, so an unawaited outcome logs nothing
            raise
        except BaseException:
            del self._entries[slot]
            outcome.set_exception(_NotStored())
            outcome.exception()
            raise
        outcome.set_result(reply)
        return reply

    def _evict(self) -> None:
        now = self._clock()
        # Oldest first: entries are inserted in time order and all share one TTL.
        while self._entries:
            slot, entry = next(iter(self._entries.items()))
            too_many = len(self._entries) > self._policy.max_entries
            if not (too_many or entry.expires <= now) or not entry.outcome.done():
                break
            del self._entries[slot]
