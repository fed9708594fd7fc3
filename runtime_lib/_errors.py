"""The one error hierarchy of runtime_lib, with the ServiceBridge codes.

Every failure a caller can see is a :class:`ServiceBridgeError` carrying an :class:`ErrorCode`,
and every code has exactly one class (``error_for`` picks it). ``retryable`` follows
ServiceBridge: only failures proven to have happened before any work ran (no connection, no live
instance, overload, a full queue) may be retried blindly. The gRPC status each code is sent as
(and read back from a plain gRPC server) is in ``runtime_lib/_rpc/status_codes.py``; the wire
format is ``docs/wire.md``.

    code                class                      retryable  gRPC status
    ServiceBridgeError (base)
    +- HANDLER            HandlerError               no         UNKNOWN
    +- NO_LIVE_INSTANCE   NoLiveInstanceError        yes        UNAVAILABLE
    +- ACCESS_DENIED      AccessDeniedError          no         PERMISSION_DENIED
    +- TIMEOUT            CallTimeoutError           no         DEADLINE_EXCEEDED
    +- CONNECTION         ConnectionFailedError      yes        UNAVAILABLE
    +- OVERLOADED         OverloadedError            yes        RESOURCE_EXHAUSTED
    +- CANCELLED          CallCancelledError         no         CANCELLED
    +- VALIDATION         ValidationError            no         INVALID_ARGUMENT
    |  +- BadRequestError (a malformed call, names the field)
    +- NOT_FOUND          NotFoundError              no         NOT_FOUND
    |  +- UnimplementedError (no such method)                   UNIMPLEMENTED
    +- CONFIG             ConfigError                no         FAILED_PRECONDITION
    +- CONFLICT           ConflictError              no         ALREADY_EXISTS
    +- QUEUE_FULL         QueueFullError             yes        RESOURCE_EXHAUSTED
    +- INVALID_EVENT_NAME InvalidEventNameError      no         INVALID_ARGUMENT
    +- OUTBOX_FULL        OutboxFullError            no         RESOURCE_EXHAUSTED
    +- STATE              StateError                 no         FAILED_PRECONDITION
    +- TERMINAL           TerminalError              no         FAILED_PRECONDITION
    +- INTERNAL           InternalError              no         INTERNAL
"""

from __future__ import annotations

import enum


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

    def __init__(self, message: str = "", *, not_dispatched: bool = False) -> None:
        super().__init__(message)
        self.message = message
        # True only when the server proved no handler ran (the ``x-sb-not-dispatched`` trailer,
        # or no connection at all): the one proof that allows a retry on another endpoint.
        self.not_dispatched = not_dispatched

    @property
    def retryable(self) -> bool:
        return self.code.retryable

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else str(self.code)


class HandlerError(ServiceBridgeError):
    """A business failure raised by a handler; the caller receives a HandlerError with the same
    ``handler_code`` and ``message`` (its ``code`` is always ``HANDLER``).

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


class CallTimeoutError(ServiceBridgeError):
    code = ErrorCode.TIMEOUT


class ConnectionFailedError(ServiceBridgeError):
    code = ErrorCode.CONNECTION


class NoLiveInstanceError(ServiceBridgeError):
    code = ErrorCode.NO_LIVE_INSTANCE


class OverloadedError(ServiceBridgeError):
    code = ErrorCode.OVERLOADED


class CallCancelledError(ServiceBridgeError):
    """The call was cancelled (by the caller, or a plain gRPC peer sent ``CANCELLED``); named so
    it never shadows :class:`asyncio.CancelledError`."""

    code = ErrorCode.CANCELLED


class AccessDeniedError(ServiceBridgeError):
    """The peer is not allowed to make this call (gRPC ``PERMISSION_DENIED``/``UNAUTHENTICATED``)."""

    code = ErrorCode.ACCESS_DENIED


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


class NotFoundError(ServiceBridgeError):
    """What the call names does not exist on the server (gRPC ``NOT_FOUND``)."""

    code = ErrorCode.NOT_FOUND


class UnimplementedError(NotFoundError):
    """The server does not implement the method (the handler raised ``NotImplementedError``);
    sent as gRPC ``UNIMPLEMENTED``, read back as :class:`NotFoundError`."""


class ConfigError(ServiceBridgeError):
    code = ErrorCode.CONFIG


def check_at_least(name: str, value: int, minimum: int) -> None:
    """A :class:`ConfigError` naming the setting ``name`` unless ``value >= minimum``."""
    if value < minimum:
        raise ConfigError(f"{name}={value!r}: must be at least {minimum}")


class InvalidEventNameError(ServiceBridgeError):
    code = ErrorCode.INVALID_EVENT_NAME


class QueueFullError(ServiceBridgeError):
    """A bounded queue refused the work before it started: retryable."""

    code = ErrorCode.QUEUE_FULL


class OutboxFullError(ServiceBridgeError):
    code = ErrorCode.OUTBOX_FULL


class StateError(ServiceBridgeError):
    """Called at the wrong point of an object's life (publishing before ``start()``)."""

    code = ErrorCode.STATE


class TerminalError(ServiceBridgeError):
    """A failure that no retry can fix."""

    code = ErrorCode.TERMINAL


class InternalError(ServiceBridgeError):
    """A failure inside runtime_lib or the peer that has no more specific code."""

    code = ErrorCode.INTERNAL


_BY_CODE: dict[ErrorCode, type[ServiceBridgeError]] = {
    ErrorCode.NO_LIVE_INSTANCE: NoLiveInstanceError,
    ErrorCode.ACCESS_DENIED: AccessDeniedError,
    ErrorCode.TIMEOUT: CallTimeoutError,
    ErrorCode.CONNECTION: ConnectionFailedError,
    ErrorCode.OVERLOADED: OverloadedError,
    ErrorCode.CANCELLED: CallCancelledError,
    ErrorCode.VALIDATION: ValidationError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.CONFIG: ConfigError,
    ErrorCode.CONFLICT: ConflictError,
    ErrorCode.QUEUE_FULL: QueueFullError,
    ErrorCode.INVALID_EVENT_NAME: InvalidEventNameError,
    ErrorCode.OUTBOX_FULL: OutboxFullError,
    ErrorCode.STATE: StateError,
    ErrorCode.TERMINAL: TerminalError,
    ErrorCode.INTERNAL: InternalError,
}


def error_for(code: ErrorCode, message: str, *, not_dispatched: bool = False) -> ServiceBridgeError:
    """The error class of ``code`` (a bare HANDLER code becomes handler code ``INTERNAL``)."""
    if code is ErrorCode.HANDLER:
        return HandlerError("INTERNAL", message)
    return _BY_CODE[code](message, not_dispatched=not_dispatched)
