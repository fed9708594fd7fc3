"""Subscribers: pull events for a service's subscriptions, run the handlers, settle deliveries.

Each subscription has its own durable consumer (``ConsumerSpec``), so one event matching two of a
service's patterns runs each handler once, and a retry of one handler does not rerun the other.
All subscriptions of a runtime share ``max_in_flight`` permits; events with the same partition key
run one at a time, in the order this instance received them.

Settling: return → ack; raise → ``nak(delay)`` on the retry ladder; on the last attempt (or on
``ctx.reject``) → dead-letter with the reason, then ``term``. While a handler runs (or waits for
its partition) the delivery is kept alive with ``in_progress`` so the broker does not hand it to
another instance; a crashed instance stops doing that, and after ``ack_wait`` another one gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from runtime_lib._events.backoff import LADDER, ladder_delay
from runtime_lib._events.bus import Bus, Consumer, ConsumerSpec, DeadLetter, Delivery
from runtime_lib._events.context import EventContext
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.event_type import EventType
from runtime_lib._events.filters import PayloadFilter
from runtime_lib._events.names import Pattern
from runtime_lib._telemetry.api import DISABLED, Telemetry
from runtime_lib._telemetry.spans import EventDelivery

log = logging.getLogger("runtime_lib.events")

AnyHandler = Callable[[Any, EventContext], Awaitable[None]]

HANDLER_LADDER = LADDER


def _log_fields(envelope: EventEnvelope) -> dict[str, str]:
    """``extra=`` of a log record about one event: log handlers can index these."""
    return {"event_id": envelope.id, "trace_id": envelope.trace_id}


@dataclass(frozen=True, slots=True)
class Subscription:
    pattern: Pattern
    handler: AnyHandler
    event_cls: type[EventType] | None
    filter: PayloadFilter | None
    dedupe: bool
    spec: ConsumerSpec

    @staticmethod
    def durable_name(group: str, pattern: Pattern, filter_spec: Any, name: str) -> str:
        """Stable across restarts and instances: derived from what the subscription is."""
        key = json.dumps([pattern.text, filter_spec, name], sort_keys=True, default=str)
        return f"sb_{group}_{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class SubscriberSettings:
    max_attempts: int = 5
    max_in_flight: int = 32
    ack_wait: float = 30.0
    retry_ladder: Sequence[float] = HANDLER_LADDER
    fetch_timeout: float = 1.0
    fetch_batch: int = 64
    bus_timeout: float = 5.0
    stop_grace: float = 10.0


class Subscribers:
    def __init__(
        self,
        bus: Bus,
        settings: SubscriberSettings,
        message_type: Callable[[str], type[Message] | None],
        telemetry: Telemetry = DISABLED,
    ) -> None:
        self._bus = bus
        self._telemetry = telemetry
        self._settings = settings
        self._message_type = message_type
        self._subscriptions: list[Subscription] = []
        self._permits = asyncio.Semaphore(settings.max_in_flight)
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._consumers: list[Consumer] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._partitions: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        # Deliveries being handled (or waiting for their partition) -> when they were last kept
        # alive; one task sends in_progress for all of them, not a task per delivery.
        self._active: dict[Delivery, float] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._started = False

    @property
    def subscriptions(self) -> Sequence[Subscription]:
        return tuple(self._subscriptions)

    async def add(self, subscription: Subscription) -> None:
        self._subscriptions.append(subscription)
        if self._started:
            await self._open(subscription)

    async def start(self) -> None:
        self._started = True
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._keep_alive(), name="events-heartbeat")
        for subscription in self._subscriptions:
            await self._open(subscription)

    async def _open(self, subscription: Subscription) -> None:
        # The consumer is created before start() returns, so events published after it are seen.
        consumer = await self._bus.consumer(subscription.spec)
        self._consumers.append(consumer)
        self._loops[subscription.spec.durable] = asyncio.create_task(
            self._fetch_loop(subscription, consumer), name=f"events:{subscription.spec.durable}"
        )

    async def stop(self) -> None:
        self._started = False
        loops = list(self._loops.values())
        self._loops.clear()
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=self._settings.stop_grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        for consumer in self._consumers:
            await consumer.close()
        self._consumers.clear()

    async def _fetch_loop(self, subscription: Subscription, consumer: Consumer) -> None:
        settings = self._settings
        permits = self._permits
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            await permits.acquire()
            taken = 1 + await self._take_free(settings.fetch_batch - 1)
            # Busy (handlers running): let them finish and hand back their permits before
            # fetching, so a fetch (a broker round trip) brings many events rather than one.
            spins = 0
            while taken < settings.fetch_batch and self._handlers and spins < 3:
                await asyncio.sleep(0)
                taken += await self._take_free(settings.fetch_batch - taken)
                spins += 1
            try:
                deliveries = await consumer.fetch(taken, settings.fetch_timeout)
            except asyncio.CancelledError:
                self._release(taken)
                raise
            except Exception as exc:
                self._release(taken)
                failures += 1
                log.warning("event fetch for %s failed: %r", subscription.spec.durable, exc)
                await asyncio.sleep(min(0.1 * 2**failures, 2.0))
                continue
            failures = 0
            self._release(taken - len(deliveries))
            now = loop.time()
            for delivery in deliveries:
                self._active[delivery] = now
                task = loop.create_task(self._handle(subscription, delivery))
                self._handlers.add(task)
                task.add_done_callback(self._handler_done)

    async def _take_free(self, limit: int) -> int:
        """Take up to ``limit`` permits that are free right now (acquiring a free one never
        suspends)."""
        permits = self._permits
        taken = 0
        while taken < limit and not permits.locked():
            await permits.acquire()
            taken += 1
        return taken

    def _release(self, count: int) -> None:
        for _ in range(count):
            self._permits.release()

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        self._permits.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("event delivery failed", exc_info=task.exception())

    async def _handle(self, subscription: Subscription, delivery: Delivery) -> None:
        try:
            envelope = delivery.envelope
            if not subscription.pattern.matches(envelope.name):
                await delivery.ack()  # the broker filter is a superset of '#' in the middle
                return
            # With dedupe, copies of one event must not race past the seen-check together.
            key = envelope.partition_key or (f"id:{envelope.id}" if subscription.dedupe else "")
            if not key:
                with self._observe(subscription, delivery) as observed:
                    await self._process(subscription, delivery, observed)
                return
            async with self._partition(subscription, key):
                with self._observe(subscription, delivery) as observed:
                    await self._process(subscription, delivery, observed)
        except asyncio.CancelledError:
            # Stopping: hand the event straight back rather than waiting out ack_wait.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(delivery.nak(0.0), 1.0)
            raise
        finally:
            self._active.pop(delivery, None)

    async def _keep_alive(self) -> None:
        """Every quarter of ``ack_wait``, ``in_progress`` for each delivery not refreshed within
        the last quarter: none goes a half ``ack_wait`` without one while it is being handled."""
        interval = max(self._settings.ack_wait / 4, 0.05)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            stale = [d for d, at in self._active.items() if now - at >= interval * 0.99]
            for delivery in stale:
                self._active[delivery] = now
            if stale:
                await asyncio.gather(
                    *(self._touch(delivery) for delivery in stale), return_exceptions=True
                )

    async def _touch(self, delivery: Delivery) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(delivery.in_progress(), self._settings.bus_timeout)

    @contextlib.asynccontextmanager
    async def _partition(self, subscription: Subscription, key: str) -> AsyncIterator[None]:
        slot = (subscription.spec.durable, key)
        lock, users = self._partitions.get(slot, (asyncio.Lock(), 0))
        self._partitions[slot] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._partitions[slot]
            if users <= 1:
                del self._partitions[slot]
            else:
                self._partitions[slot] = (lock, users - 1)

    def _observe(self, subscription: Subscription, delivery: Delivery) -> EventDelivery:
        """The consumer span of this delivery: the handler, and its settling, run inside it."""
        envelope = delivery.envelope
        return self._telemetry.deliver(
            name=envelope.name,
            event_id=envelope.id,
            trace_headers=envelope.trace_headers,
            attempt=delivery.attempt,
            group=subscription.spec.group,
            subscription=subscription.pattern.text,
        )

    async def _process(
        self, subscription: Subscription, delivery: Delivery, observed: EventDelivery
    ) -> None:
        envelope = delivery.envelope
        spec = subscription.spec
        settings = self._settings
        ctx = EventContext(
            envelope=envelope,
            attempt=delivery.attempt,
            max_attempts=settings.max_attempts,
            pattern=subscription.pattern.text,
            group=spec.group,
        )
        if delivery.attempt > settings.max_attempts:
            # Only the server's backstop delivery gets here: the last attempt's DLQ write failed.
            await self._dead_letter(subscription, delivery, "max attempts exceeded", observed)
            return
        try:
            argument = self._argument(subscription, envelope)
        except Exception as exc:
            await self._dead_letter(subscription, delivery, f"undecodable payload: {exc}", observed)
            return
        if argument is None:
            await delivery.ack()  # filtered out
            return
        if subscription.dedupe and await self._bus.seen(spec.durable, envelope.id):
            await delivery.ack()
            return
        try:
            await subscription.handler(argument, ctx)
        except Exception as exc:
            observed.failed(exc)
            reason = f"{type(exc).__name__}: {exc}"
            log.warning(
                "handler for %s failed (event %s, trace %s, attempt %d/%d): %s",
                envelope.name,
                envelope.id,
                envelope.trace_id or "-",
                delivery.attempt,
                settings.max_attempts,
                reason,
                extra=_log_fields(envelope),
            )
            await self._retry_or_dead_letter(subscription, delivery, None, reason, observed)
            return
        if ctx.decision == "reject":
            reason = ctx.reject_reason or "rejected"
            await self._dead_letter(subscription, delivery, reason, observed)
        elif ctx.decision == "retry":
            await self._retry_or_dead_letter(
                subscription,
                delivery,
                ctx.retry_delay,
                "retry requested on the last attempt",
                observed,
            )
        else:
            if subscription.dedupe:
                await self._bus.mark_seen(spec.durable, envelope.id)
            await delivery.ack()
            observed.acked()

    def _argument(self, subscription: Subscription, envelope: Any) -> Any:
        """What the handler gets (typed event or envelope), or None when the filter says no."""
        cls = subscription.event_cls
        message: Message | None = None
        if cls is not None:
            message = cls.PROTO.FromString(envelope.payload)
        elif subscription.filter is not None:
            message_type = self._message_type(envelope.name)
            if message_type is None:
                log.warning("no message type registered for %s: filter cannot match", envelope.name)
                return None
            message = message_type.FromString(envelope.payload)
        if (
            subscription.filter is not None
            and message is not None
            and not subscription.filter.matches(message)
        ):
            return None
        return envelope if cls is None else cls.from_proto(message)

    async def _retry_or_dead_letter(
        self,
        subscription: Subscription,
        delivery: Delivery,
        delay: float | None,
        reason: str,
        observed: EventDelivery,
    ) -> None:
        if delivery.attempt >= self._settings.max_attempts:
            await self._dead_letter(subscription, delivery, reason, observed)
            return
        if delay is None:
            delay = ladder_delay(delivery.attempt, self._settings.retry_ladder)
        observed.retry(delay, reason)
        await delivery.nak(delay)

    async def _dead_letter(
        self, subscription: Subscription, delivery: Delivery, reason: str, observed: EventDelivery
    ) -> None:
        envelope = delivery.envelope
        letter = DeadLetter(
            envelope=envelope,
            group=subscription.spec.group,
            pattern=subscription.pattern.text,
            reason=reason,
            attempts=delivery.attempt,
            headers=envelope.to_headers(),
        )
        try:
            await self._bus.dead_letter(delivery, letter, self._settings.bus_timeout)
        except Exception as exc:
            log.warning("dead-letter write for %s failed: %s; redelivering", envelope.id, exc)
            delay = ladder_delay(1, self._settings.retry_ladder)
            observed.retry(delay, f"dead-letter write failed: {exc}")
            await delivery.nak(delay)
            return
        observed.dead_letter(reason)
        log.warning(
            "event %s (%s, trace %s) dead-lettered by %s after %d attempts: %s",
            envelope.id,
            envelope.name,
            envelope.trace_id or "-",
            subscription.spec.group,
            delivery.attempt,
            reason,
            extra=_log_fields(envelope),
        )
        await delivery.term()
