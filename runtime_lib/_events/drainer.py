"""The drainer: moves outbox rows to the bus and deletes each only after the broker's ack.

Rows go out in batches, sent concurrently (so a batch costs about one round trip). A failed send
re-arms its row on the ladder 1 s, 5 s, 30 s, 2 min, 10 min (±25 % jitter, the last rung
repeats); a :class:`PublishRejected` marks it failed for an operator. When the bus reconnects,
every pending row becomes due at once instead of sitting out its rung.

On a bus that can send a batch and hand back its acks later (:class:`BatchBus`, which the NATS
bus is), batches are pipelined: while one batch waits for its acks the next is claimed and sent
(up to ``depth`` batches in flight), and each batch's settle is queued for the writer's next
transaction instead of being waited for. Batches are written to the broker in claim order.
While publishers are adding rows the drainer yields to them: one batch in flight until adding
pauses for ``BUSY_WINDOW``, and a claimed batch of at most ``BUSY_BATCH`` rows.

Rows the outbox hands off in memory (committed in flight while the drainer keeps up, see
:mod:`outbox`) are sent first and need no claim; the table is claimed from only when it may hold
due rows: at start, after an add that had to wait there, after a re-arm, a reconnect, and every
``idle_poll``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from runtime_lib._events.backoff import LADDER, ladder_delay
from runtime_lib._events.bus import Bus, PublishRejected
from runtime_lib._events.outbox import Outbox, OutboxRow, Rearm
from runtime_lib._events.waits import within

log = logging.getLogger("runtime_lib.events")

DRAIN_LADDER = LADDER
# While rows were added within the last BUSY_WINDOW seconds, the drainer keeps one batch in
# flight, a claimed one of at most BUSY_BATCH rows: on a shared event loop each drained row costs
# publishers CPU. Handed-off rows go out as many as have come (up to the batch size), which keeps
# the drain at the publishers' pace at one batch per round trip.
BUSY_WINDOW = 0.05
BUSY_BATCH = 32

Results = list[BaseException | None]


@runtime_checkable
class BatchBus(Protocol):
    async def send_batch(self, rows: Sequence[OutboxRow], timeout_s: float) -> Awaitable[Results]:
        """Write ``rows`` to the broker, in order, and return an awaitable of one result per row
        (None: stored; an exception: not stored) that resolves within ``timeout_s``."""
        ...


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
        depth: int = 4,
        publisher: str = "",
    ) -> None:
        self._outbox = outbox
        # For buses shared by several services (memory); a NatsBus publishes as its own service.
        self._publisher = publisher
        self._bus = bus
        self._batch_bus = bus if isinstance(bus, BatchBus) else None
        self._batch = batch
        self._publish_timeout = publish_timeout
        self._ladder = tuple(ladder)
        self._idle_poll = idle_poll
        self._depth = max(1, depth) if self._batch_bus is not None else 1
        self._wake = asyncio.Event()
        self._make_due = False
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._batch_done = asyncio.Event()
        self._handed: deque[OutboxRow] = deque()
        self._claim_due = True  # the table may hold due rows
        self._next_due: float | None = None
        self._stopped = False
        self.idle = False  # waiting for work
        self.sent = 0

    def start(self) -> None:
        self._outbox.set_wake(self.wake_threadsafe)
        self._outbox.set_handoff(self._handoff_threadsafe)
        self._bus.on_reconnect(self.on_reconnect)
        self._task = asyncio.create_task(self._run(), name="events-drainer")

    async def stop(self) -> None:
        """Stop claiming; let batches already sent collect their acks and settle."""
        self._stopped = True
        self._outbox.set_wake(lambda: None)
        self._outbox.set_handoff(None)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._give_back(list(self._handed))
        self._handed.clear()
        in_flight = set(self._in_flight)
        if in_flight:
            # A healthy broker acks within milliseconds; past a second the rows go back to
            # pending (stop's flush, or the next start, resends them; the broker dedupes).
            _, late = await asyncio.wait(in_flight, timeout=min(self._publish_timeout, 1.0))
            for straggler in late:
                straggler.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    def wake_threadsafe(self) -> None:
        """Rows are due in the table (added there, or re-armed)."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._table_due)

    def _table_due(self) -> None:
        self._claim_due = True
        self._wake.set()

    def _handoff_threadsafe(self, rows: list[OutboxRow]) -> None:
        if self._loop.is_closed():
            return  # they stay in flight in the file: pending again on the next open
        self._loop.call_soon_threadsafe(self._take_handoff, rows)

    def _take_handoff(self, rows: list[OutboxRow]) -> None:
        if self._stopped:
            self._give_back(rows)
            return
        self._handed.extend(rows)
        self._wake.set()

    def _give_back(self, rows: list[OutboxRow]) -> None:
        """Handed-off rows not sent: back to pending (the flush on stop, or the next start,
        sends them)."""
        if not rows:
            return
        self._outbox.taken(len(rows))
        with contextlib.suppress(RuntimeError):  # the outbox is closed: pending on next open
            self._outbox.unclaim_nowait([row.seq for row in rows])

    def _take_handed(self, limit: int) -> list[OutboxRow]:
        handed = self._handed
        rows = [handed.popleft() for _ in range(min(limit, len(handed)))]
        if rows:
            self._outbox.taken(len(rows))
        return rows

    def on_reconnect(self) -> None:
        self._make_due = True
        self._table_due()

    async def _claim(self, limit: int = 0) -> list[OutboxRow]:
        if self._make_due:
            self._make_due = False
            await self._outbox.make_due()
        return await self._outbox.claim(limit or self._batch)

    async def drain_once(self) -> int:
        """Send one batch of due rows and settle it; return how many rows were claimed."""
        rows = await self._claim()
        if not rows:
            return 0
        acks = await self._send(rows)
        # Shielded: once the broker has the events, losing this write only costs deduped resends.
        await asyncio.shield(asyncio.wrap_future(self._settle(rows, await acks)))
        return len(rows)

    async def _send(self, rows: list[OutboxRow]) -> Awaitable[Results]:
        """Write ``rows`` to the bus; the awaitable gives one result per row."""
        if self._batch_bus is not None:
            try:
                return await self._batch_bus.send_batch(rows, self._publish_timeout)
            except Exception as exc:
                return _resolved([exc] * len(rows))
        timeout = self._publish_timeout
        return asyncio.gather(
            *(
                self._bus.publish(replace(row.envelope, publisher=self._publisher), timeout)
                for row in rows
            ),
            return_exceptions=True,
        )

    def _settle(
        self, rows: list[OutboxRow], results: Results, *, lazy: bool = False
    ) -> concurrent.futures.Future[None]:
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
        self.sent += len(delivered)
        if rearm:
            log.warning("event publish failed for %d rows: %s", len(rearm), rearm[0].error)
        future = self._outbox.settle_nowait(delivered, rearm, failed, lazy=lazy)
        if rearm or failed:
            # Re-armed rows change when the next one is due: let the idle wait look again.
            future.add_done_callback(lambda _: self.wake_threadsafe())
        return future

    def _rearm(self, row: OutboxRow, error: Exception) -> Rearm:
        delay = ladder_delay(row.attempts + 1, self._ladder)
        return Rearm(row.seq, delay, f"{type(error).__name__}: {error}")

    async def _finish(self, rows: list[OutboxRow], acks: Awaitable[Results]) -> None:
        """Wait for one pipelined batch's acks and queue its settle (not waited for)."""
        try:
            results = await acks
        except asyncio.CancelledError:
            # Stopping before the acks came: back to pending; a resend is deduped by the broker.
            self._outbox.unclaim_nowait([row.seq for row in rows])
            raise
        except Exception as exc:
            results = [exc] * len(rows)
        # Lazy: a crash before it commits only costs resends the broker dedupes.
        future = self._settle(rows, results, lazy=True)
        future.add_done_callback(_log_settle_error)

    async def _run(self) -> None:
        outbox = self._outbox
        while True:
            # Publishers first: while rows are being added (within the last BUSY_WINDOW), one
            # batch in flight (the drain still advances, a batch per round trip); full depth
            # once adding pauses.
            while len(self._in_flight) >= (
                1 if time.monotonic() - outbox.last_add < BUSY_WINDOW else self._depth
            ):
                self._batch_done.clear()
                await within(self._batch_done.wait(), BUSY_WINDOW)
            # Cleared before looking, so a wake during the look is not lost.
            self._wake.clear()
            busy = time.monotonic() - outbox.last_add < BUSY_WINDOW
            try:
                rows = self._take_handed(self._batch)
                if not rows and self._claim_due:
                    limit = min(self._batch, BUSY_BATCH) if busy else self._batch
                    self._claim_due = False
                    rows = await self._claim(limit)
                    if len(rows) == limit:
                        self._claim_due = True  # maybe more
                    else:
                        self._next_due = await outbox.next_due()
                if rows:
                    acks = await self._send(rows)
                    if self._batch_bus is None:
                        results = await acks
                        await asyncio.shield(asyncio.wrap_future(self._settle(rows, results)))
                        continue
                    task = asyncio.create_task(self._finish(rows, acks))
                    self._in_flight.add(task)
                    task.add_done_callback(self._batch_finished)
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event drainer failed; retrying")
                self._claim_due = True
                await asyncio.sleep(self._ladder[0])
                continue
            due = self._next_due
            wait = self._idle_poll if due is None else min(self._idle_poll, due - time.time())
            if wait <= 0 or self._handed:
                self._claim_due = self._claim_due or wait <= 0
                continue
            self.idle = True
            try:
                if not await within(self._wake.wait(), wait):
                    self._claim_due = True  # a re-armed row fell due, or the idle look
            finally:
                self.idle = False

    def _batch_finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._batch_done.set()


def _resolved(results: Results) -> Awaitable[Results]:
    future: asyncio.Future[Results] = asyncio.get_running_loop().create_future()
    future.set_result(results)
    return future


def _log_settle_error(future: concurrent.futures.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        error = future.exception()
        log.error("settling drained rows failed; they are resent on restart", exc_info=error)
