"""The runtime's own instruments: RPC calls, breakers, events and the outbox.

Names follow the OpenTelemetry semantic conventions where one exists (``rpc.*.call.duration``),
``sb.*`` otherwise. Gauges that describe state (breaker, outbox) are observable: their owners
register a callback that is read at collection time, so nothing is computed between exports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Meter, Observation

BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Rows waiting in an outbox, and the age in seconds of the oldest (0 when empty)."""

    depth: int
    oldest_age: float


BreakerSource = Callable[[], Iterable[tuple[str, str]]]
"""Yields ``(address, state)`` per endpoint; state is a key of ``BREAKER_STATES``."""

OutboxSource = Callable[[], OutboxStats | None]
"""The outbox's current stats, or None while it is closed."""


class InFlight:
    """Calls in flight per attribute set (service, method), kept without the SDK."""

    def __init__(self) -> None:
        self._counts: dict[tuple[tuple[str, str], ...], int] = {}

    def add(self, delta: int, attributes: tuple[tuple[str, str], ...]) -> None:
        self._counts[attributes] = self._counts.get(attributes, 0) + delta

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        for attributes, count in list(self._counts.items()):
            yield Observation(count, dict(attributes))


class RuntimeMetrics:
    def __init__(self, meter: Meter, service: str) -> None:
        self._service = service
        self.client_duration = meter.create_histogram(
            "rpc.client.call.duration", unit="s", description="Logical client calls, all attempts"
        )
        self.server_duration = meter.create_histogram(
            "rpc.server.call.duration", unit="s", description="Handled calls"
        )
        # In-flight counts are plain dicts read at collection: two SDK measurements per call
        # (up, then down) would cost more than the rest of the call's metrics together.
        self.client_active = InFlight()
        self.server_active = InFlight()
        meter.create_observable_up_down_counter(
            "sb.rpc.client.active_calls",
            callbacks=[self.client_active.observe],
            unit="{call}",
            description="Client calls in flight",
        )
        meter.create_observable_up_down_counter(
            "sb.rpc.server.active_calls",
            callbacks=[self.server_active.observe],
            unit="{call}",
            description="Handled calls in flight",
        )
        self.retries = meter.create_counter(
            "sb.rpc.client.retries", unit="{attempt}", description="Attempts after the first"
        )
        self.published = meter.create_counter(
            "sb.events.published", unit="{event}", description="Events stored in the outbox"
        )
        self.delivered = meter.create_counter(
            "sb.events.delivered", unit="{event}", description="Deliveries handled and acked"
        )
        self.retried = meter.create_counter(
            "sb.events.retried", unit="{event}", description="Deliveries handed back for retry"
        )
        self.dead_lettered = meter.create_counter(
            "sb.events.dead_lettered", unit="{event}", description="Events given up on"
        )
        self._breakers: list[BreakerSource] = []
        self._outboxes: list[OutboxSource] = []
        meter.create_observable_gauge(
            "sb.rpc.breaker.state",
            callbacks=[self._observe_breakers],
            unit="{state}",
            description="Circuit breaker per endpoint: 0 closed, 1 half-open, 2 open",
        )
        meter.create_observable_gauge(
            "sb.outbox.depth",
            callbacks=[self._observe_depth],
            unit="{event}",
            description="Events in the outbox not yet delivered to the broker",
        )
        meter.create_observable_gauge(
            "sb.outbox.oldest_age",
            callbacks=[self._observe_age],
            unit="s",
            description="Age of the oldest event in the outbox",
        )

    def observe_breakers(self, source: BreakerSource) -> None:
        self._breakers.append(source)

    def observe_outbox(self, source: OutboxSource) -> None:
        self._outboxes.append(source)

    def _observe_breakers(self, options: CallbackOptions) -> Iterable[Observation]:
        for source in self._breakers:
            for address, state in source():
                yield Observation(BREAKER_STATES[state], {"server.address": address})

    def _outbox_stats(self) -> Iterable[OutboxStats]:
        for source in self._outboxes:
            stats = source()
            if stats is not None:
                yield stats

    def _observe_depth(self, options: CallbackOptions) -> Iterable[Observation]:
        for stats in self._outbox_stats():
            yield Observation(stats.depth, {"service.name": self._service})

    def _observe_age(self, options: CallbackOptions) -> Iterable[Observation]:
        for stats in self._outbox_stats():
            yield Observation(stats.oldest_age, {"service.name": self._service})
