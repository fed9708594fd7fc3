"""The runner: fires every job of one service instance at its times, once across all instances.

Each instance computes the same fire times and races for the lease of each (``leases.py``); the
winner runs the handler with retries, renewing the lease; the others stand by and take over if
the winner stops renewing. One-shots are watched in the store, so one scheduled by any
instance, before any restart, fires on whichever instance wins its lease.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.trace import Status, StatusCode

from runtime_lib._errors import ServiceBridgeError
from runtime_lib._jobs.clock import Clock
from runtime_lib._jobs.context import JobContext
from runtime_lib._jobs.kv import Watch
from runtime_lib._jobs.leases import LIVE_STATES, Lease, LeaseState
from runtime_lib._jobs.schedule import (
    catchup_fires,
    fire_times_between,
    overlap_action,
    retry_delay,
)
from runtime_lib._jobs.spec import JobSpec
from runtime_lib._jobs.store import JobStore, LastResult, OneShot
from runtime_lib._telemetry.api import Telemetry

log = logging.getLogger("runtime_lib.jobs")

JobHandler = Callable[[JobContext], Awaitable[None]]

# How often a buffered run looks whether the one before it finished, at most.
_BUFFER_POLL = timedelta(seconds=1)
# Look at an expiring lease just after its expiry, so the holder's clock has passed it too.
_EXPIRY_MARGIN = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Job:
    spec: JobSpec
    handler: JobHandler
    timeout: float | None = None  # seconds per attempt; None: no deadline


@dataclass(frozen=True, slots=True)
class _Fire:
    job: Job
    scheduled: datetime
    slot: str
    payload: Any
    recurring: bool


def _ms(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def _slot(when: datetime) -> str:
    return str(_ms(when))


class JobRunner:
    def __init__(
        self,
        jobs: Mapping[str, Job],
        store: JobStore,
        *,
        owner: str,
        clock: Clock,
        telemetry: Telemetry,
        rng: random.Random | None = None,
    ) -> None:
        self._jobs = dict(jobs)
        self._store = store
        self._owner = owner
        self._clock = clock
        self._telemetry = telemetry
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[str, JobContext] = {}
        self._standby: dict[str, _Fire] = {}
        self._stopping = False
        self._once_watch: Watch | None = None
        self._waiting: dict[tuple[str, str], asyncio.Task[None]] = {}  # one-shots not yet due
        self._limits = {
            name: asyncio.Semaphore(job.spec.concurrency)
            for name, job in jobs.items()
            if job.spec.concurrency is not None
        }
        self.next_fire: dict[str, datetime | None] = {}
        self.lag: dict[str, float] = {}
        self._fired = telemetry.counter("sb.jobs.fired", description="executions started")
        self._succeeded = telemetry.counter("sb.jobs.succeeded", description="executions done")
        self._failed = telemetry.counter("sb.jobs.failed", description="attempts that failed")
        self._retried = telemetry.counter("sb.jobs.retried", description="attempts retried")
        self._lag = telemetry.histogram(
            "sb.jobs.lag", unit="s", description="from scheduled time to start"
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        for job in self._jobs.values():
            if job.spec.trigger is not None:
                self._spawn(self._recurring(job))
        self._once_watch = await self._store.watch_once()
        self._spawn(self._one_shots(self._once_watch))
        if self._jobs:
            self._spawn(self._watchdog())

    async def stop(self) -> None:
        """Tell running handlers to stop, then cancel everything; unfinished leases expire and
        another instance takes them over."""
        self._stopping = True
        for ctx in list(self._running.values()):
            ctx._stop()
        if self._once_watch is not None:
            await self._once_watch.close()
        tasks = list(self._tasks) + list(self._waiting.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("jobs: background task failed", exc_info=task.exception())

    # -- recurring fire times --------------------------------------------------------------

    async def _recurring(self, job: Job) -> None:
        spec = job.spec
        now = self._clock.now()
        try:
            mark = await self._store.mark(spec.name)
        except ServiceBridgeError as exc:
            log.warning("jobs: %s: no catch-up, the watermark is unreadable: %s", spec.name, exc)
            mark = None
        if mark is not None and mark.identity == spec.identity:
            last = datetime.fromtimestamp(mark.last_ms / 1000, UTC)
            missed = fire_times_between(spec, last, now)
            for late in catchup_fires(spec.effective_catchup, missed):
                self._spawn(self.fire(_Fire(job, late, _slot(late), None, recurring=True)))
        cursor = now
        while (fire := spec.next_fire(cursor)) is not None:
            self.next_fire[spec.name] = fire
            await self._clock.sleep_until(fire)
            cursor = fire
            self._spawn(self.fire(_Fire(job, fire, _slot(fire), None, recurring=True)))
        self.next_fire[spec.name] = None

    async def trigger(self, job: Job, payload: Any = None) -> str:
        """Run ``job`` now, out of schedule (paused or not); return its slot."""
        slot = f"manual-{uuid.uuid4().hex}"
        self._spawn(self.fire(_Fire(job, self._clock.now(), slot, payload, recurring=False)))
        return slot

    # -- one execution ---------------------------------------------------------------------

    async def fire(self, fire: _Fire) -> None:
        """Take the lease of one slot and run it, or stand by if another instance holds it.

        At its ``max_concurrent`` an instance waits before racing for the lease, so an idle
        instance wins the slot first."""
        limit = self._limits.get(fire.job.spec.name)
        if limit is None:
            await self._fire(fire)
            return
        async with limit:
            await self._fire(fire)

    async def _fire(self, fire: _Fire) -> None:
        spec = fire.job.spec
        key = self._store.lease_key(spec.name, fire.slot)
        try:
            if fire.recurring and await self._store.paused(spec.name):
                # Passed over, not missed: a later catch-up must not fire it.
                await self._store.advance_mark(spec.name, spec.identity, _ms(fire.scheduled))
                return
            lease = await self._store.leases.acquire(
                key,
                owner=self._owner,
                ttl_ms=round(spec.lease_ttl * 1000),
                now_ms=_ms(self._clock.now()),
                max_attempts=spec.attempts,
            )
            if lease is None:
                record = await self._store.leases.read(key)
                if record is not None and record.state in LIVE_STATES:
                    self._standby[key] = fire
                else:
                    self._standby.pop(key, None)
                return
        except ServiceBridgeError as exc:
            # The broker is unreachable: try again with the stand-by slots.
            log.warning("jobs: %s at %s: %s", spec.name, fire.slot, exc)
            self._standby[key] = fire
            return
        self._standby.pop(key, None)
        heartbeat = asyncio.create_task(self._heartbeat(spec, lease))
        try:
            if await self._wait_turn(fire, lease):
                await self._execute(fire, lease)
        finally:
            heartbeat.cancel()
            self._running.pop(key, None)

    async def _wait_turn(self, fire: _Fire, lease: Lease) -> bool:
        """Apply the overlap policy against the slot fired before this one."""
        spec = fire.job.spec
        if not fire.recurring or lease.taken_over:
            # A taken-over buffered slot goes on waiting for the run it was buffered behind.
            return lease.record.state != "buffered" or await self._wait_buffered(fire, lease)
        if spec.effective_overlap == "allow":
            # Nothing waits on the watermark: move it while the handler starts.
            self._spawn(self._advance_mark(spec, fire))
            return True
        previous = await self._store.advance_mark(spec.name, spec.identity, _ms(fire.scheduled))
        if (
            previous is None
            or previous.identity != spec.identity
            or previous.last_ms >= _ms(fire.scheduled)
        ):
            return True
        before = await self._in_flight(spec.name, str(previous.last_ms))
        action = overlap_action(spec.effective_overlap, None if before is None else before[1])
        if action == "run":
            return True
        if action == "skip":
            assert before is not None
            await self._settle(fire, lease, "skipped", after=before[0])
            return False
        assert before is not None
        blocker = before[0]
        if not await self._store.leases.write(
            lease, lambda r: replace(r, state="buffered", after=blocker)
        ):
            return False
        return await self._wait_buffered(fire, lease)

    async def _advance_mark(self, spec: JobSpec, fire: _Fire) -> None:
        try:
            await self._store.advance_mark(spec.name, spec.identity, _ms(fire.scheduled))
        except ServiceBridgeError as exc:
            log.warning("jobs: %s: watermark not moved to %s: %s", spec.name, fire.slot, exc)

    async def _wait_buffered(self, fire: _Fire, lease: Lease) -> bool:
        """Wait until the run this slot is buffered behind (``record.after``) has ended."""
        spec = fire.job.spec
        slot = lease.record.after
        while slot is not None:
            await self._clock.sleep_until(self._clock.now() + _BUFFER_POLL)
            before = await self._in_flight(spec.name, slot)
            slot = None if before is None else before[0]
        return await self._store.leases.write(
            lease, lambda r: replace(r, state="running", after=None)
        )

    async def _in_flight(self, job: str, slot: str) -> tuple[str, LeaseState] | None:
        """The run still in flight at or before ``slot`` (skipped slots point at it), if any."""
        now_ms = _ms(self._clock.now())
        for _ in range(64):
            record = await self._store.leases.read(self._store.lease_key(job, slot))
            if record is None:
                return None
            if record.state == "skipped" and record.after is not None:
                slot = record.after
                continue
            return (slot, record.state) if record.live(now_ms) else None
        return None

    async def _execute(self, fire: _Fire, lease: Lease) -> None:
        job, spec = fire.job, fire.job.spec
        attempt = lease.record.attempt
        started = self._clock.now()
        lag = max(0.0, (started - fire.scheduled).total_seconds())
        self.lag[spec.name] = lag
        labels = {"job": spec.name}
        self._fired.add(1, labels)
        self._lag.record(lag, labels)
        while True:
            if attempt != lease.record.attempt and not await self._store.leases.write(
                lease, functools.partial(replace, attempt=attempt)
            ):
                return  # lost while waiting to retry: the new holder carries on
            ctx = JobContext(
                job=spec.name,
                execution_id=uuid.uuid4().hex,
                scheduled_at=fire.scheduled,
                local_scheduled_at=fire.scheduled.astimezone(spec.zone()),
                attempt=attempt,
                idempotency_key=f"{spec.name}:{fire.slot}",
                deadline=None
                if job.timeout is None
                else self._clock.now() + timedelta(seconds=job.timeout),
                payload=fire.payload,
            )
            self._running[lease.key] = ctx
            error = await self._attempt(job, ctx)
            if ctx.lease_lost:
                return
            if error is None:
                self._succeeded.add(1, labels)
                await self._settle(fire, lease, "done", attempts=attempt)
                return
            self._failed.add(1, labels)
            if self._stopping:
                return  # the lease expires and another instance runs the next attempt
            if attempt >= spec.attempts:
                await self._settle(fire, lease, "failed", attempts=attempt, error=error)
                return
            self._retried.add(1, labels)
            delay = retry_delay(spec.backoff, attempt, self._rng)
            await self._clock.sleep_until(self._clock.now() + delay)
            attempt += 1

    async def _attempt(self, job: Job, ctx: JobContext) -> BaseException | None:
        """Run the handler once; the exception it ended with, if any."""
        attributes: dict[str, Any] = {
            "sb.job.name": ctx.job,
            "sb.job.execution_id": ctx.execution_id,
            "sb.job.attempt": ctx.attempt,
            "sb.job.scheduled_at": ctx.scheduled_at.isoformat(),
            "sb.job.idempotency_key": ctx.idempotency_key,
        }
        with self._telemetry.op(f"job {ctx.job}", **attributes) as op:
            handler = asyncio.ensure_future(job.handler(ctx))
            stop = asyncio.ensure_future(ctx.wait_cancelled())
            try:
                done, _ = await asyncio.wait(
                    {handler, stop}, timeout=job.timeout, return_when=asyncio.FIRST_COMPLETED
                )
            except asyncio.CancelledError:
                handler.cancel()  # no handler outlives the runner
                raise
            finally:
                stop.cancel()
            error: BaseException | None
            if handler in done:
                error = None if handler.cancelled() else handler.exception()
            else:
                handler.cancel()
                await asyncio.gather(handler, return_exceptions=True)
                error = asyncio.CancelledError() if ctx.cancelled else TimeoutError(job.timeout)
                ctx._stop()
            if error is not None:
                log.warning("jobs: %s attempt %d failed", ctx.job, ctx.attempt, exc_info=error)
                if op.span.is_recording():
                    op.span.record_exception(error)
                    op.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            return error

    async def _settle(
        self,
        fire: _Fire,
        lease: Lease,
        state: LeaseState,
        *,
        attempts: int = 0,
        after: str | None = None,
        error: BaseException | None = None,
    ) -> None:
        now = self._clock.now()
        settled = await self._store.leases.write(
            lease, lambda r: replace(r, state=state, after=after, expires_ms=_ms(now))
        )
        if not settled:
            return
        name = fire.job.spec.name
        if state in ("done", "failed"):
            await self._store.set_last_result(
                name,
                LastResult(
                    slot=fire.slot,
                    ok=state == "done",
                    finished_ms=_ms(now),
                    attempts=attempts,
                    error=None if error is None else type(error).__name__,
                ),
            )
        if fire.slot.startswith("once-"):
            await self._store.remove_once(name, fire.slot.removeprefix("once-"))

    async def _heartbeat(self, spec: JobSpec, lease: Lease) -> None:
        ttl = timedelta(seconds=spec.lease_ttl)
        while True:
            await self._clock.sleep_until(self._clock.now() + ttl / 3)
            expires = _ms(self._clock.now() + ttl)
            try:
                renewed = await self._store.leases.write(
                    lease, functools.partial(replace, expires_ms=expires)
                )
            except ServiceBridgeError as exc:
                log.warning("jobs: renewing %s: %s", lease.key, exc)
                continue  # the lease holds until it expires; try again
            if not renewed:
                ctx = self._running.get(lease.key)
                if ctx is not None:
                    ctx._stop(lease_lost=True)
                return

    # -- stand-by and one-shots ------------------------------------------------------------

    async def _watchdog(self) -> None:
        """Retake the slots whose holder stopped renewing, as soon as their lease expires.

        It wakes when the earliest lease it watches expires (a live holder has renewed it by
        then, and it sleeps again), so a dead holder is replaced within ``lease_ttl``."""
        idle = timedelta(seconds=min(job.spec.lease_ttl for job in self._jobs.values()) / 2)
        wake = self._clock.now() + idle
        while True:
            await self._clock.sleep_until(wake)
            now = self._clock.now()
            wake = now + idle
            for key, fire in list(self._standby.items()):
                try:
                    record = await self._store.leases.read(key)
                except ServiceBridgeError:
                    continue
                if record is None or record.state not in LIVE_STATES:
                    self._standby.pop(key, None)
                elif not record.live(_ms(now)):
                    self._standby.pop(key, None)
                    self._spawn(self.fire(fire))
                else:
                    expires = datetime.fromtimestamp(record.expires_ms / 1000, UTC)
                    wake = min(wake, expires + _EXPIRY_MARGIN)

    async def _one_shots(self, watch: Watch) -> None:
        async for change in watch:
            name, once_id, once = self._store.one_shot(change)
            task = self._waiting.pop((name, once_id), None)
            if task is not None:
                task.cancel()
            job = self._jobs.get(name)
            if once is not None and job is not None:
                self._waiting[(name, once_id)] = asyncio.create_task(self._when_due(job, once))

    async def _when_due(self, job: Job, once: OneShot) -> None:
        at = datetime.fromtimestamp(once.run_at_ms / 1000, UTC)
        await self._clock.sleep_until(at)
        self._waiting.pop((job.spec.name, once.id), None)
        self._spawn(self.fire(_Fire(job, at, f"once-{once.id}", once.payload, recurring=False)))
