"""NatsConfig: where the JetStream bus connects and the names and limits of what it creates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

NatsTls = Callable[[], Mapping[str, Any]]
"""``nats.connect`` keywords of a service's certificate (``tls``, ``tls_hostname``,
``inbox_prefix``), made on each connect so a rotated certificate is used."""


@dataclass(frozen=True, slots=True)
class NatsConfig:
    """Where and how to reach JetStream. ``events="nats://host:4222"`` is ``NatsConfig(url=...)``."""

    url: str = "nats://127.0.0.1:4222"
    stream: str = "SB_EVENTS"
    dlq_stream: str = "SB_DLQ"
    dedupe_bucket: str = "sb_dedupe"
    # Longer than the drainer's top rung (10 min + 25 %) so any resend of a row is deduped.
    duplicate_window: float = 20 * 60
    max_age: float = 7 * 24 * 3600
    dlq_max_age: float = 30 * 24 * 3600
    dedupe_ttl: float = 24 * 3600
    connect_timeout: float = 5.0
    request_timeout: float = 5.0
    name: str = ""
