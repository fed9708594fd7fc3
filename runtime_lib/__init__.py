"""runtime_lib: what sb-gen's generated code runs on. Everything public is exported here."""

from typing_extensions import deprecated

from runtime_lib.errors import (
    CallTimeoutError,
    CancelledError,
    ConfigError,
    ConnectionFailedError,
    ErrorCode,
    HandlerError,
    InvalidEventNameError,
    NoLiveInstanceError,
    OutboxFullError,
    OverloadedError,
    ServiceBridgeError,
    ValidationError,
)
from runtime_lib.rpc.base import ClientBase, HandlerBase, Invoker
from runtime_lib.rpc.context import CallContext
from runtime_lib.rpc.options import CallOptions, Metadata, RetryPolicy, Timeout, Transport
from runtime_lib.rpc.spec import Cardinality, MethodSpec, ServiceSpec

__all__ = [
    "CallContext",
    "CallOptions",
    "CallTimeoutError",
    "CancelledError",
    "Cardinality",
    "ClientBase",
    "ConfigError",
    "ConnectionFailedError",
    "ErrorCode",
    "HandlerBase",
    "HandlerError",
    "InvalidEventNameError",
    "Invoker",
    "Metadata",
    "MethodSpec",
    "NoLiveInstanceError",
    "OutboxFullError",
    "OverloadedError",
    "RetryPolicy",
    "ServiceBridgeError",
    "ServiceSpec",
    "Timeout",
    "Transport",
    "ValidationError",
    "deprecated",
]
