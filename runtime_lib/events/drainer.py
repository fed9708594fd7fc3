"""The drainer: moves outbox rows to the bus and deletes each only after the broker's ack.

Rows go out in batches, sent concurrently (so a batch costs about one round trip). A failed send
re-arms its row on the ladder 1 s, 5 s, 30 s, 2 min, 10 min (±25 % jitter, the last rung
repeats); a :class:`PublishRejected` marks it failed for an operator. When the bus reconnects,
every pending row becomes due at once instead of sitting out its rung.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence

from runtime_lib.events.bus import Bus, PublishRejected
from runtime_lib.events.outbox import Outbox, OutboxRow, Rearm

log = logging.getLogger("runtime_lib.events")

DRAIN_LADDER: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)


def ladder_delay(attempts: int, ladder: Sequence[float] = DRAIN_LADDER) -> float:
    """Delay before send number ``attempts + 1`` (``attempts`` failed so far, >= 1)."""
    base = ladder[min(max(attempts, 1), len(ladder)) - 1]
    return base * random.uniform(0.75, 1.25)


class Drainer:
    def __init__(
        self,
        outbox: Outbox,
        bus: Bus,
        *,
        batch: int = 256,
        publish_timeout: float = 5.0,
        ladder: Sequence[float] = DRAIN_LADDER,
        idle_poll: float = 1.0,
    ) -> None:
        self._outbox = outbox
        self._bus = bus
        self._batch = batch
        self._publish_timeout = publish_timeout
        self._ladder = tuple(ladder)
        self._idle_poll = idle_poll
        self._wake = asyncio.Event()
        self._make_due = False
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def start(self) -> None:
        self._outbox.set_wake(self.wake_threadsafe)
        self._bus.on_reconnect(self.on_reconnect)
        self._task = asyncio.create_task(self._run(), name="events-drainer")

    async def stop(self) -> None:
        self._outbox.set_wake(lambda: None)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def wake_threadsafe(self) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def on_reconnect(self) -> None:
        self._make_due = True
        self._wake.set()

    async def drain_once(self) -> int:
        """Send one batch of due rows; return how many rows were claimed."""
        if self._make_due:
            self._make_due = False
            await self._outbox.make_due()
        rows = await self._outbox.claim(self._batch)
        if not rows:
            return 0
        results = await asyncio.gather(
            *(self._bus.publish(row.envelope, self._publish_timeout) for row in rows),
            return_exceptions=True,
        )
        delivered: list[int] = []
        rearm: list[Rearm] = []
        failed: list[tuple[int, str]] = []
        for row, result in zip(rows, results, strict=True):
            if not isinstance(result, BaseException):
                delivered.append(row.seq)
            elif isinstance(result, PublishRejected):
                failed.append((row.seq, f"rejected: {result}"))
            elif isinstance(result, Exception):
                rearm.append(self._rearm(row, result))
            else:
                raise result
        # Shielded: once the broker has the events, losing this write only costs deduped resends.
        await asyncio.shield(self._outbox.settle(delivered, rearm, failed))
        self.sent += len(delivered)
        if rearm:
            log.warning("event publish failed for %d rows: %s", len(rearm), rearm[0].error)
        return len(rows)

    def _rearm(self, row: OutboxRow, error: Exception) -> Rearm:
        delay = ladder_delay(row.attempts + 1, self._ladder)
        return Rearm(row.seq, delay, f"{type(error).__name__}: {error}")

    async def _run(self) -> None:
        while True:
            # Cleared before looking, so a wake during the look is not lost.
            self._wake.clear()
            try:
                claimed = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event drainer failed; retrying")
                claimed = 0
                await asyncio.sleep(self._ladder[0])
            if claimed:
                continue
            due = await self._outbox.next_due()
            wait = self._idle_poll if due is None else min(self._idle_poll, due - time.time())
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
