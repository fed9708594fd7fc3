"""What each audience imports: users ``runtime_lib`` (and ``runtime_lib.http`` /
``runtime_lib.workflows`` with their extras), generated code ``runtime_lib.codegen``;
every other module is private. A name added to or dropped from either list fails here."""

from __future__ import annotations

import pkgutil

import runtime_lib
from runtime_lib import codegen

USERS = [
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

GENERATED_CODE = [
    "CallContext",
    "CallOptions",
    "Cardinality",
    "ClientBase",
    "EventType",
    "HandlerBase",
    "Invoker",
    "MethodSpec",
    "ServiceSpec",
    "SyncClientBase",
    "deprecated",
    "fill_timestamp",
    "timestamp_datetime",
]


def test_runtime_lib_exports_users_names_only() -> None:
    assert runtime_lib.__all__ == USERS
    assert all(hasattr(runtime_lib, name) for name in USERS)


def test_codegen_exports_what_generated_code_uses() -> None:
    assert codegen.__all__ == GENERATED_CODE
    assert all(hasattr(codegen, name) for name in GENERATED_CODE)


def test_every_other_module_is_private() -> None:
    # http and workflows are the users' APIs of optional extras (Starlette, Temporal): they
    # cannot load with runtime_lib itself.
    public = [
        m.name for m in pkgutil.iter_modules(runtime_lib.__path__) if not m.name.startswith("_")
    ]
    assert public == ["codegen", "http", "workflows"]
