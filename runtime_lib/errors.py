"""The one error hierarchy of runtime_lib, with the ServiceBridge codes.

Every failure a caller can see is a :class:`ServiceBridgeError` carrying an :class:`ErrorCode`.
``retryable`` follows ServiceBridge: only failures proven to have happened before any work ran
(no connection, no live instance, overload, a full queue) may be retried blindly.
"""

from __future__ import annotations

import enum

import grpc


class ErrorCode(enum.StrEnum):
    HANDLER = "HANDLER"
    NO_LIVE_INSTANCE = "NO_LIVE_INSTANCE"
    ACCESS_DENIED = "ACCESS_DENIED"
    TIMEOUT = "TIMEOUT"
    CONNECTION = "CONNECTION"
    OVERLOADED = "OVERLOADED"
    CANCELLED = "CANCELLED"
    VALIDATION = "VALIDATION"
    NOT_FOUND = "NOT_FOUND"
    CONFIG = "CONFIG"
    CONFLICT = "CONFLICT"
    QUEUE_FULL = "QUEUE_FULL"
    INVALID_EVENT_NAME = "INVALID_EVENT_NAME"
    OUTBOX_FULL = "OUTBOX_FULL"
    STATE = "STATE"
    TERMINAL = "TERMINAL"
    INTERNAL = "INTERNAL"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {ErrorCode.CONNECTION, ErrorCode.NO_LIVE_INSTANCE, ErrorCode.OVERLOADED, ErrorCode.QUEUE_FULL}
)


class ServiceBridgeError(Exception):
    """Base of every runtime_lib error. ``code`` says what failed; ``retryable`` if a retry may help."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self, message: str = "", *, code: ErrorCode | None = None, not_dispatched: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        # True only when the server proved no handler ran (the ``x-sb-not-dispatched`` trailer,
        # or no connection at all): the one proof that allows a retry on another endpoint.
        self.not_dispatched = not_dispatched

    @property
    def retryable(self) -> bool:
        return self.code.retryable

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else str(self.code)


class HandlerError(ServiceBridgeError):
    """A business failure raised by a handler; the caller receives it with the same code and message.

    ``handler_code`` is the application's own code (``"CARD_DECLINED"``); any exception that is not
    a ``HandlerError`` reaches the caller as a ``HandlerError`` with ``handler_code="INTERNAL"``.
    Never retried: the handler ran.
    """

    code = ErrorCode.HANDLER

    def __init__(self, handler_code: str, message: str = "") -> None:
        super().__init__(message)
        self.handler_code = handler_code

    def __str__(self) -> str:
        return f"HANDLER {self.handler_code}: {self.message}"


class AccessDeniedError(ServiceBridgeError):
    """The caller may not call this method (its access policy, or no verified identity).
    Never retried: the answer would be the same."""

    code = ErrorCode.ACCESS_DENIED


class CallTimeoutError(ServiceBridgeError):
    code = ErrorCode.TIMEOUT


class ConnectionFailedError(ServiceBridgeError):
    code = ErrorCode.CONNECTION


class NoLiveInstanceError(ServiceBridgeError):
    code = ErrorCode.NO_LIVE_INSTANCE


class OverloadedError(ServiceBridgeError):
    code = ErrorCode.OVERLOADED


class CancelledError(ServiceBridgeError):
    code = ErrorCode.CANCELLED


class ValidationError(ServiceBridgeError):
    code = ErrorCode.VALIDATION


class BadRequestError(ValidationError):
    """The call itself is malformed (undecodable request bytes, a bad ``sb-*`` header): the
    caller's fault, refused before any handler code ran. ``field`` names what is wrong; on the
    wire it is a ``google.rpc.BadRequest`` field violation."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ConflictError(ServiceBridgeError):
    """An idempotency key was reused with a different request (gRPC ``ALREADY_EXISTS``)."""

    code = ErrorCode.CONFLICT


class UnimplementedError(ServiceBridgeError):
    """The server does not implement the method (the handler raised ``NotImplementedError``);
    sent as gRPC ``UNIMPLEMENTED``, read back as ``NOT_FOUND``."""

    code = ErrorCode.NOT_FOUND


class ConfigError(ServiceBridgeError):
    code = ErrorCode.CONFIG


class InvalidEventNameError(ServiceBridgeError):
    code = ErrorCode.INVALID_EVENT_NAME


class OutboxFullError(ServiceBridgeError):
    code = ErrorCode.OUTBOX_FULL


_BY_CODE: dict[ErrorCode, type[ServiceBridgeError]] = {
    ErrorCode.ACCESS_DENIED: AccessDeniedError,
    ErrorCode.TIMEOUT: CallTimeoutError,
    ErrorCode.CONNECTION: ConnectionFailedError,
    ErrorCode.NO_LIVE_INSTANCE: NoLiveInstanceError,
    ErrorCode.OVERLOADED: OverloadedError,
    ErrorCode.CANCELLED: CancelledError,
    ErrorCode.VALIDATION: ValidationError,
    ErrorCode.CONFIG: ConfigError,
    ErrorCode.CONFLICT: ConflictError,
    ErrorCode.INVALID_EVENT_NAME: InvalidEventNameError,
    ErrorCode.OUTBOX_FULL: OutboxFullError,
}


def error_for(code: ErrorCode, message: str, *, not_dispatched: bool = False) -> ServiceBridgeError:
    """The most specific error class for ``code``."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return ServiceBridgeError(message, code=code, not_dispatched=not_dispatched)
    return cls(message, not_dispatched=not_dispatched)


# ServiceBridge's mapping of a gRPC status to an error code (NOTES.md, "Error model").
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
