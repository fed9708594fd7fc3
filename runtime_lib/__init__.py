"""runtime_lib: what sb-gen's generated code runs on. Everything public is exported here."""

from typing_extensions import deprecated

from runtime_lib.access.policy import AccessPolicy, PolicyViolation
from runtime_lib.bridge import Bridge
from runtime_lib.errors import (
    AccessDeniedError,
    BadRequestError,
    CallTimeoutError,
    CancelledError,
    ConfigError,
    ConflictError,
    ConnectionFailedError,
    ErrorCode,
    HandlerError,
    InvalidEventNameError,
    NoLiveInstanceError,
    OutboxFullError,
    OverloadedError,
    ServiceBridgeError,
    UnimplementedError,
    ValidationError,
)
from runtime_lib.events import (
    DeadLetter,
    EventContext,
    EventEnvelope,
    EventsRuntime,
    EventType,
    MemoryBus,
    NatsConfig,
    OutboxAdmin,
)
from runtime_lib.lifecycle import ConnectionEvent
from runtime_lib.registry.base import Instance, Registry
from runtime_lib.registry.nats_kv import NatsKvRegistry
from runtime_lib.registry.static import StaticRegistry
from runtime_lib.rpc.admission import AdmissionLimits
from runtime_lib.rpc.base import ClientBase, HandlerBase, Invoker
from runtime_lib.rpc.breaker import BreakerPolicy
from runtime_lib.rpc.context import CallContext
from runtime_lib.rpc.idempotency import IdempotencyPolicy
from runtime_lib.rpc.options import (
    CallOptions,
    Metadata,
    NetworkTransport,
    ReplyMetadata,
    RetryPolicy,
    Timeout,
    Transport,
)
from runtime_lib.rpc.spec import Cardinality, MethodSpec, ServiceSpec
from runtime_lib.security.tls import TlsConfig
from runtime_lib.telemetry import Op, Telemetry, TelemetryConfig, TraceContextFilter

__all__ = [
    "AccessDeniedError",
    "AccessPolicy",
    "AdmissionLimits",
    "BadRequestError",
    "BreakerPolicy",
    "Bridge",
    "CallContext",
    "CallOptions",
    "CallTimeoutError",
    "CancelledError",
    "Cardinality",
    "ClientBase",
    "ConfigError",
    "ConflictError",
    "ConnectionEvent",
    "ConnectionFailedError",
    "DeadLetter",
    "ErrorCode",
    "EventContext",
    "EventEnvelope",
    "EventType",
    "EventsRuntime",
    "HandlerBase",
    "HandlerError",
    "IdempotencyPolicy",
    "Instance",
    "InvalidEventNameError",
    "Invoker",
    "MemoryBus",
    "Metadata",
    "MethodSpec",
    "NatsConfig",
    "NatsKvRegistry",
    "NetworkTransport",
    "NoLiveInstanceError",
    "Op",
    "OutboxAdmin",
    "OutboxFullError",
    "OverloadedError",
    "PolicyViolation",
    "Registry",
    "ReplyMetadata",
    "RetryPolicy",
    "ServiceBridgeError",
    "ServiceSpec",
    "StaticRegistry",
    "Telemetry",
    "TelemetryConfig",
    "Timeout",
    "TlsConfig",
    "TraceContextFilter",
    "Transport",
    "UnimplementedError",
    "ValidationError",
    "deprecated",
]
