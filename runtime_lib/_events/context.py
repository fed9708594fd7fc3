"""What a handler sees besides the event, and how it asks for a retry or a dead letter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from runtime_lib._events.envelope import EventEnvelope


@dataclass(slots=True)
class EventContext:
    """Per-delivery context: ``handler(event, ctx)``.

    ``ctx.retry(delay)`` and ``ctx.reject(reason)`` record a decision that applies when the handler
    returns (instead of the acknowledgement): call one, then return.
    """

    envelope: EventEnvelope
    attempt: int
    max_attempts: int
    pattern: str
    group: str
    decision: Literal["ack", "retry", "reject"] = field(default="ack", init=False)
    retry_delay: float = field(default=0.0, init=False)
    reject_reason: str = field(default="", init=False)

    @property
    def event_id(self) -> str:
        return self.envelope.id

    @property
    def name(self) -> str:
        return self.envelope.name

    @property
    def publisher(self) -> str:
        """The service that published this event, as the broker saw it: under TLS the broker
        lets each service publish only under its own name, so this is verified (docs/security.md).
        """
        return self.envelope.publisher

    @property
    def headers(self) -> Mapping[str, str]:
        """The publisher's headers (without the envelope's own ``sb-*`` and trace headers)."""
        return self.envelope.headers

    @property
    def occurred_at(self) -> datetime:
        return self.envelope.occurred_at

    @property
    def partition_key(self) -> str:
        return self.envelope.partition_key

    @property
    def idempotency_key(self) -> str:
        return self.envelope.idempotency_key

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def retry(self, delay: float = 0.0) -> None:
        """Redeliver this event after ``delay`` seconds (counts as an attempt)."""
        self.decision = "retry"
        self.retry_delay = max(0.0, delay)

    def reject(self, reason: str) -> None:
        """Send this event to the dead-letter queue now, skipping the remaining attempts."""
        self.decision = "reject"
        self.reject_reason = reason
