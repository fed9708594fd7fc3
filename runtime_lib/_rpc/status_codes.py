"""gRPC status codes of the ServiceBridge error codes, both ways (docs/wire.md, "Errors").

Dependencies point one way: errors.py imports no grpc, and events and telemetry reach gRPC's
status enum only through this module.
"""

from __future__ import annotations

import asyncio

import grpc

from runtime_lib._errors import ErrorCode, ServiceBridgeError

# ServiceBridge's mapping of a gRPC status to an error code (docs/wire.md, "Errors").
GRPC_STATUS_TO_CODE: dict[grpc.StatusCode, ErrorCode] = {
    grpc.StatusCode.CANCELLED: ErrorCode.CANCELLED,
    grpc.StatusCode.UNKNOWN: ErrorCode.INTERNAL,
    grpc.StatusCode.INVALID_ARGUMENT: ErrorCode.VALIDATION,
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorCode.TIMEOUT,
    grpc.StatusCode.NOT_FOUND: ErrorCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: ErrorCode.CONFLICT,
    grpc.StatusCode.PERMISSION_DENIED: ErrorCode.ACCESS_DENIED,
    grpc.StatusCode.UNAUTHENTICATED: ErrorCode.ACCESS_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorCode.OVERLOADED,
    grpc.StatusCode.FAILED_PRECONDITION: ErrorCode.VALIDATION,
    grpc.StatusCode.ABORTED: ErrorCode.INTERNAL,
    grpc.StatusCode.OUT_OF_RANGE: ErrorCode.VALIDATION,
    grpc.StatusCode.UNIMPLEMENTED: ErrorCode.NOT_FOUND,
    grpc.StatusCode.INTERNAL: ErrorCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE: ErrorCode.CONNECTION,
    grpc.StatusCode.DATA_LOSS: ErrorCode.INTERNAL,
}


# The status a server sends for each code, so plain gRPC clients see a sensible status. A
# HandlerError goes out as UNKNOWN: the handler ran and failed for a business reason.
CODE_TO_GRPC_STATUS: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.HANDLER: grpc.StatusCode.UNKNOWN,
    ErrorCode.NO_LIVE_INSTANCE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.ACCESS_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorCode.CONNECTION: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.CANCELLED: grpc.StatusCode.CANCELLED,
    ErrorCode.VALIDATION: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.CONFIG: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.QUEUE_FULL: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.INVALID_EVENT_NAME: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.OUTBOX_FULL: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.STATE: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.TERMINAL: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}

# Semantic conventions: a server span is an error only for these codes (the others are the
# caller's mistake); a client span is an error for any code but OK.
SERVER_ERROR_STATUSES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def grpc_status(error: BaseException | None) -> grpc.StatusCode:
    """The gRPC status a call ending with ``error`` has (what the server sends, the client sees)."""
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, ServiceBridgeError):
        return CODE_TO_GRPC_STATUS[error.code]
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code()
    if isinstance(error, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN
