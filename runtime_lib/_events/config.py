"""EventsConfig: where a bridge's events go and the limits of its outbox and handlers."""

from __future__ import annotations

from dataclasses import dataclass

from runtime_lib._errors import ConfigError, check_at_least
from runtime_lib._events.bus import Bus
from runtime_lib._events.nats_config import NatsConfig

Broker = str | NatsConfig | Bus
"""``"embedded"`` (a local nats-server shared under ``data_dir``), ``"memory"`` (in-process, shared
by the runtimes on one event loop), a ``nats://`` URL, a :class:`NatsConfig`, or a bus instance."""

_URL_SCHEMES = ("nats://", "tls://", "ws://", "wss://")


@dataclass(frozen=True)
class EventsConfig:
    """``Bridge(events=EventsConfig(...))``; a plain :data:`Broker` is ``EventsConfig(broker=...)``.

    broker: where events travel (:data:`Broker`); started on ``start()`` when there are
      subscriptions or a backlog, else on the first ``publish()``.
    max_outbox_rows: outbox rows before ``publish`` raises ``OutboxFullError``.
    max_outbox_bytes: a cap on the outbox file's size (``None``: only the disk's).
    max_in_flight: event handlers running at once, across all subscriptions.
    max_attempts: deliveries of an event before it is dead-lettered.
    """

    broker: Broker = "embedded"
    max_outbox_rows: int = 100_000
    max_outbox_bytes: int | None = None
    max_in_flight: int = 32
    max_attempts: int = 5

    def __post_init__(self) -> None:
        broker = self.broker
        if (
            isinstance(broker, str)
            and broker not in ("embedded", "memory")
            and not broker.startswith(_URL_SCHEMES)
        ):
            raise ConfigError(
                f"EventsConfig.broker={broker!r}: expected 'embedded', 'memory' or a nats:// URL"
            )
        check_at_least("EventsConfig.max_outbox_rows", self.max_outbox_rows, 1)
        if self.max_outbox_bytes is not None:
            check_at_least("EventsConfig.max_outbox_bytes", self.max_outbox_bytes, 1)
        check_at_least("EventsConfig.max_in_flight", self.max_in_flight, 1)
        check_at_least("EventsConfig.max_attempts", self.max_attempts, 1)
