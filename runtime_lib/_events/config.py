"""EventsConfig: where a bridge's events go and the limits of its outbox and handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from runtime_lib._errors import ConfigError, check_at_least
from runtime_lib._events.bus import Bus
from runtime_lib._events.nats_config import NatsConfig

Broker = str | NatsConfig | Bus
"""``"embedded"`` (a local nats-server shared under ``data_dir``), ``"memory"`` (in-process, shared
by the runtimes on one event loop), a ``nats://`` URL, a :class:`NatsConfig`, or a bus instance."""

_URL_SCHEMES = ("nats://", "tls://", "ws://", "wss://")

OutboxSync = Literal["full", "normal"]
"""How a publish's outbox commit reaches the disk (SQLite's ``synchronous`` in WAL mode)."""


@dataclass(frozen=True)
class EventsConfig:
    """``Bridge(events=EventsConfig(...))``; a plain :data:`Broker` is ``EventsConfig(broker=...)``.

    broker: where events travel (:data:`Broker`); started on ``start()`` when there are
      subscriptions or a backlog, else on the first ``publish()``.
    max_outbox_rows: outbox rows before ``publish`` raises ``OutboxFullError``.
    max_outbox_bytes: a cap on the outbox file's size (``None``: only the disk's).
    max_in_flight: event handlers running at once, across all subscriptions.
    max_attempts: deliveries of an event before it is dead-lettered.
    outbox_sync: ``"full"`` (default): every outbox commit is fsynced, so a publish that returned
      survives a power loss. ``"normal"``: commits reach the operating system and are fsynced at
      checkpoints: a publish that returned survives its process being killed, but a power loss
      or kernel crash may take the last ones. That is the durability nats-server gives JetStream
      by default (it fsyncs every two minutes); publishing is then bound by CPU, not the disk.
    """

    broker: Broker = "embedded"
    max_outbox_rows: int = 100_000
    max_outbox_bytes: int | None = None
    max_in_flight: int = 32
    max_attempts: int = 5
    outbox_sync: OutboxSync = "full"

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
        if self.outbox_sync not in get_args(OutboxSync):
            raise ConfigError(
                f"EventsConfig.outbox_sync={self.outbox_sync!r}: expected 'full' or 'normal'"
            )
