"""runtime_lib: what a service built with sb-gen runs on. Users import this module only:
``import runtime_lib as sb``.

Everything here is public: the :class:`Bridge`, its settings, the contexts handlers receive, the
registries and every error class. Generated code is built on :mod:`runtime_lib.codegen`; every
other module is private (``_``-prefixed) and may change without notice.
"""

from runtime_lib._access.policy import AccessPolicy, PolicyViolation
from runtime_lib._bridge import Bridge
from runtime_lib._errors import (
    AccessDeniedError,
    BadRequestError,
    CallCancelledError,
    CallTimeoutError,
    ConfigError,
    ConflictError,
    ConnectionFailedError,
    ErrorCode,
    HandlerError,
    InternalError,
    InvalidEventNameError,
    NoLiveInstanceError,
    NotFoundError,
    OutboxFullError,
    OverloadedError,
    QueueFullError,
    ServiceBridgeError,
    StateError,
    TerminalError,
    UnimplementedError,
    ValidationError,
)
from runtime_lib._events.bus import DeadLetter
from runtime_lib._events.config import EventsConfig
from runtime_lib._events.context import EventContext
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.nats_config import NatsConfig
from runtime_lib._events.outbox import OutboxAdmin
from runtime_lib._jobs import JobContext, JobInfo, JobRetry, Jobs
from runtime_lib._lifecycle import ConnectionEvent
from runtime_lib._registry.base import Instance, Registry
from runtime_lib._registry.nats_kv import NatsKvRegistry
from runtime_lib._registry.static import StaticRegistry
from runtime_lib._rpc.admission import AdmissionLimits
from runtime_lib._rpc.breaker import BreakerPolicy
from runtime_lib._rpc.config import RpcConfig
from runtime_lib._rpc.context import CallContext
from runtime_lib._rpc.idempotency import IdempotencyPolicy
from runtime_lib._rpc.options import (
    CallOptions,
    Metadata,
    NetworkTransport,
    ReplyMetadata,
    RetryPolicy,
    Timeout,
    Transport,
)
from runtime_lib._security.identity import PeerIdentityError
from runtime_lib._security.tls import TlsConfig
from runtime_lib._sync import SyncBridge
from runtime_lib._telemetry.api import Op, Telemetry
from runtime_lib._telemetry.config import TelemetryConfig
from runtime_lib._telemetry.logs import TraceContextFilter

__all__ = [
    "AccessDeniedError",
    "AccessPolicy",
    "AdmissionLimits",
    "BadRequestError",
    "BreakerPolicy",
    "Bridge",
    "CallCancelledError",
    "CallContext",
    "CallOptions",
    "CallTimeoutError",
    "ConfigError",
    "ConflictError",
    "ConnectionEvent",
    "ConnectionFailedError",
    "DeadLetter",
    "ErrorCode",
    "EventContext",
    "EventEnvelope",
    "EventsConfig",
    "HandlerError",
    "IdempotencyPolicy",
    "Instance",
    "InternalError",
    "InvalidEventNameError",
    "JobContext",
    "JobInfo",
    "JobRetry",
    "Jobs",
    "Metadata",
    "NatsConfig",
    "NatsKvRegistry",
    "NetworkTransport",
    "NoLiveInstanceError",
    "NotFoundError",
    "Op",
    "OutboxAdmin",
    "OutboxFullError",
    "OverloadedError",
    "PeerIdentityError",
    "PolicyViolation",
    "QueueFullError",
    "Registry",
    "ReplyMetadata",
    "RetryPolicy",
    "RpcConfig",
    "ServiceBridgeError",
    "StateError",
    "StaticRegistry",
    "SyncBridge",
    "Telemetry",
    "TelemetryConfig",
    "TerminalError",
    "Timeout",
    "TlsConfig",
    "TraceContextFilter",
    "Transport",
    "UnimplementedError",
    "ValidationError",
]
