"""An in-process bus with the NATS backend's semantics, for unit tests and single-process apps.

Consumer groups, competing consumers, redelivery after ``nak(delay)``, ``max_deliver``, dedupe of
publishes by message id within a window, a dead-letter list. Messages live only in memory.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from runtime_lib._events.bus import ConsumerSpec, DeadLetter, Delivery
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.waits import within


@dataclass(eq=False)
class _Message:
    envelope: EventEnvelope
    delivered: int = 0


@dataclass(eq=False)
class _Group:
    spec: ConsumerSpec
    ready: deque[_Message] = field(default_factory=deque)
    signal: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, message: _Message) -> None:
        self.ready.append(message)
        self.signal.set()


class MemoryDelivery:
    def __init__(self, bus: MemoryBus, group: _Group, message: _Message) -> None:
        self._bus = bus
        self._group = group
        self._message = message
        self.envelope = message.envelope
        self.attempt = message.delivered
        self.settled = False

    async def ack(self) -> None:
        self.settled = True

    async def term(self) -> None:
        self.settled = True

    async def nak(self, delay: float) -> None:
        self.settled = True
        self._bus.redeliver(self._group, self._message, delay)

    async def in_progress(self) -> None:
        return None

    def requeue(self) -> None:
        if not self.settled:
            self.settled = True
            self._bus.redeliver(self._group, self._message, 0.0)


class MemoryConsumer:
    def __init__(self, bus: MemoryBus, group: _Group) -> None:
        self._bus = bus
        self._group = group
        self._outstanding: weakref.WeakSet[MemoryDelivery] = weakref.WeakSet()

    async def fetch(self, batch: int, timeout_s: float) -> list[Delivery]:
        group = self._group
        if not group.ready:
            group.signal.clear()
            if not await within(group.signal.wait(), timeout_s):
                return []
        out: list[Delivery] = []
        while group.ready and len(out) < batch:
            message = group.ready.popleft()
            if message.delivered >= group.spec.max_deliver:
                continue  # the server-side backstop: never delivered again
            message.delivered += 1
            delivery = MemoryDelivery(self._bus, group, message)
            self._outstanding.add(delivery)
            out.append(delivery)
        if group.ready:
            group.signal.set()
        return out

    async def close(self) -> None:
        # What NATS does after ack_wait: unsettled deliveries go to another consumer.
        for delivery in list(self._outstanding):
            delivery.requeue()


class MemoryBus:
    """Share one instance between runtimes to connect them (``events=bus``)."""

    def __init__(self, *, duplicate_window: float = 1200.0) -> None:
        self.duplicate_window = duplicate_window
        self._groups: dict[str, _Group] = {}
        # Message id -> when it was published, and the same in publish order, so expired ids
        # leave from the front in O(1) amortized instead of a rebuild of the dict per publish.
        self._msg_ids: dict[str, float] = {}
        self._msg_order: deque[tuple[float, str]] = deque()
        self._dead: list[DeadLetter] = []
        self._seen: set[tuple[str, str]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self._users = 0
        self.published = 0

    async def connect(self) -> None:
        self._users += 1

    async def close(self) -> None:
        self._users -= 1
        if self._users <= 0:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._reconnect_callbacks.append(callback)

    async def publish(self, envelope: EventEnvelope, timeout_s: float) -> None:
        now = time.monotonic()
        horizon = now - self.duplicate_window
        order, msg_ids = self._msg_order, self._msg_ids
        while order and order[0][0] <= horizon:
            at, expired = order.popleft()
            if msg_ids.get(expired) == at:
                del msg_ids[expired]
        msg_id = envelope.msg_id
        if msg_id in msg_ids:
            return
        msg_ids[msg_id] = now
        order.append((now, msg_id))
        self.published += 1
        for group in self._groups.values():
            if group.spec.pattern.matches(envelope.name):
                group.put(_Message(envelope))

    async def consumer(self, spec: ConsumerSpec) -> MemoryConsumer:
        group = self._groups.get(spec.durable)
        if group is None:
            group = self._groups[spec.durable] = _Group(spec)
        return MemoryConsumer(self, group)

    def redeliver(self, group: _Group, message: _Message, delay: float) -> None:
        if delay <= 0:
            group.put(message)
            return

        def fire() -> None:
            self._timers.discard(timer)
            group.put(message)

        timer = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(timer)

    async def dead_letter(self, delivery: Delivery, letter: DeadLetter, timeout_s: float) -> None:
        self._dead.append(letter)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return self._dead[:limit]

    async def seen(self, group: str, event_id: str) -> bool:
        return (group, event_id) in self._seen

    async def mark_seen(self, group: str, event_id: str) -> None:
        self._seen.add((group, event_id))


_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MemoryBus] = (
    weakref.WeakKeyDictionary()
)


def shared_memory_bus() -> MemoryBus:
    """The memory bus of the running event loop: every ``events="memory"`` runtime on it shares it."""
    loop = asyncio.get_running_loop()
    bus = _shared.get(loop)
    if bus is None:
        bus = _shared[loop] = MemoryBus()
    return bus
