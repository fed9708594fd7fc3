"""The bus backend interface: what the drainer and the subscribers need from a broker.

Two implementations: :mod:`memory_bus` (in-process, for unit tests) and :mod:`nats_bus`
(JetStream). Delivery is at-least-once in both; ``attempt`` counts deliveries of one message to
one consumer group, starting at 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.names import Pattern


class PublishRejected(Exception):
    """The broker refused the event for good (too large, no such stream, …): retrying cannot help.

    Any other exception from :meth:`Bus.publish` is transient and the drainer retries.
    """


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """One durable consumer: a service (the group) reading one pattern.

    ``durable`` is stable across restarts and instances, so every instance of the service shares
    the consumer and the events it has not yet acknowledged.
    """

    group: str
    pattern: Pattern
    durable: str
    max_deliver: int
    ack_wait: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a consumer group gave up on."""

    envelope: EventEnvelope
    group: str
    pattern: str
    reason: str
    attempts: int
    headers: Mapping[str, str] = field(default_factory=dict)


class Delivery(Protocol):
    envelope: EventEnvelope
    attempt: int

    async def ack(self) -> None: ...

    async def nak(self, delay: float) -> None: ...

    async def term(self) -> None: ...

    async def in_progress(self) -> None: ...


class Consumer(Protocol):
    async def fetch(self, batch: int, timeout_s: float) -> list[Delivery]:
        """Up to ``batch`` deliveries; an empty list when none arrived within ``timeout_s``."""
        ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever the connection to the broker comes back."""
        ...

    async def publish(self, envelope: EventEnvelope, timeout_s: float) -> None:
        """Store ``envelope`` in the broker (a duplicate counts as stored); PublishRejected if never."""
        ...

    async def consumer(self, spec: ConsumerSpec) -> Consumer: ...

    async def dead_letter(self, delivery: Delivery, letter: DeadLetter, timeout_s: float) -> None:
        """Store ``letter`` in the dead-letter queue."""
        ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters, for operators and tests."""
        ...

    async def seen(self, group: str, event_id: str) -> bool:
        """For dedupe: whether ``group`` has already handled ``event_id``."""
        ...

    async def mark_seen(self, group: str, event_id: str) -> None:
        """For dedupe: record that ``group`` handled ``event_id``."""
        ...
