"""Durable events: a SQLite outbox, delivery on NATS JetStream (or in memory), typed handlers."""

from runtime_lib.events.bus import Bus, ConsumerSpec, DeadLetter, Delivery, PublishRejected
from runtime_lib.events.config import Broker, EventsConfig
from runtime_lib.events.context import EventContext
from runtime_lib.events.envelope import EventEnvelope
from runtime_lib.events.event_type import EventType
from runtime_lib.events.filters import PayloadFilter
from runtime_lib.events.memory_bus import MemoryBus
from runtime_lib.events.names import Pattern, compile_pattern, validate_name
from runtime_lib.events.nats_bus import NatsBus, NatsConfig
from runtime_lib.events.outbox import OutboxAdmin, OutboxRow, RowState
from runtime_lib.events.runtime import EventsRuntime
from runtime_lib.ids import new_event_id

__all__ = [
    "Broker",
    "Bus",
    "ConsumerSpec",
    "DeadLetter",
    "Delivery",
    "EventContext",
    "EventEnvelope",
    "EventType",
    "EventsConfig",
    "EventsRuntime",
    "MemoryBus",
    "NatsBus",
    "NatsConfig",
    "OutboxAdmin",
    "OutboxRow",
    "Pattern",
    "PayloadFilter",
    "PublishRejected",
    "RowState",
    "compile_pattern",
    "new_event_id",
    "validate_name",
]
