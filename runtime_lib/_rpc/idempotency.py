"""Server-side replay cache keyed by (caller, method, idempotency key).

A replay within the TTL returns the stored outcome without running the handler; a concurrent
duplicate waits for the first. Only deterministic outcomes are stored: a reply or a
``HandlerError``. A crash or a cancelled call stores nothing, so a retry runs the handler again.

A key is scoped to its caller, so two callers never see each other's replies; a key reused with
a different request (compared by a hash of its bytes) is refused with ``ConflictError``. The
entry count stays within ``max_entries``, calls in flight included: finished outcomes are
dropped oldest first, and when every entry is a call still running, a new keyed call is refused
before it runs (``OverloadedError``, not dispatched, so it can be retried elsewhere).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from runtime_lib._errors import ConflictError, HandlerError, OverloadedError

T = TypeVar("T")

Slot = tuple[str, str, str]  # (caller, method, key)


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
    fingerprint: bytes
    expires: float = 0.0


class IdempotencyCache:
    def __init__(self, policy: IdempotencyPolicy, clock: Callable[[], float] = time.monotonic):
        self._policy = policy
        self._clock = clock
        # Running calls apart from finished ones, so that one call that never ends cannot stop
        # the eviction of the finished (oldest first, in the order they finished).
        self._running: dict[Slot, _Entry] = {}
        self._done: OrderedDict[Slot, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._running) + len(self._done)

    async def run(
        self,
        caller: str,
        method: str,
        key: str,
        fingerprint: bytes,
        call: Callable[[], Awaitable[T]],
    ) -> T:
        """``call()`` once per (caller, method, key); ``fingerprint`` identifies the request."""
        slot = (caller, method, key)
        while True:
            self._evict()
            entry = self._running.get(slot) or self._done.get(slot)
            if entry is None:
                break
            if entry.fingerprint != fingerprint:
                raise ConflictError(
                    f"idempotency key {key!r} was already used on {method} with a different "
                    "request; use a new key for a new request"
                )
            try:
                result: T = await asyncio.shield(entry.outcome)
            except _NotStored:
                continue
            return result
        if len(self._running) >= self._policy.max_entries:
            raise OverloadedError(
                f"{len(self._running)} calls with idempotency keys are running, the replay "
                f"cache's limit ({self._policy.max_entries})",
                not_dispatched=True,
            )
        outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        entry = self._running[slot] = _Entry(outcome, fingerprint)
        try:
            reply = await call()
        except HandlerError as exc:
            self._store(slot, entry)
            outcome.set_exception(exc)
            outcome.exception()  # retrieved here, so an unawaited outcome logs nothing
            raise
        except BaseException:
            del self._running[slot]
            outcome.set_exception(_NotStored())
            outcome.exception()
            raise
        self._store(slot, entry)
        outcome.set_result(reply)
        return reply

    def _store(self, slot: Slot, entry: _Entry) -> None:
        del self._running[slot]
        entry.expires = self._clock() + self._policy.ttl
        self._done[slot] = entry
        self._evict()

    def _evict(self) -> None:
        now = self._clock()
        done = self._done
        # Oldest first: finished entries are appended in time order and share one TTL.
        while done:
            slot, entry = next(iter(done.items()))
            if len(done) + len(self._running) <= self._policy.max_entries and entry.expires > now:
                break
            del done[slot]
