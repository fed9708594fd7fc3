"""What the caller is told when a handler fails, and what the server's log keeps.

A ``HandlerError`` is the handler's answer and reaches the caller as raised. A
``NotImplementedError`` becomes gRPC ``UNIMPLEMENTED``. Anything else is a crash: its traceback
goes to the ``runtime_lib.rpc`` logger with the request id and trace id, and the caller gets a
generic ``HandlerError("INTERNAL", ...)`` naming only the request id, since exception text can
hold paths, queries or secrets. ``RpcConfig(expose_errors=True)`` adds the exception's type and text
to that message, for development.
"""

from __future__ import annotations

import logging
import uuid

from opentelemetry import trace

from runtime_lib._errors import (
    BadRequestError,
    ConflictError,
    HandlerError,
    ServiceBridgeError,
    UnimplementedError,
)
from runtime_lib._rpc.context import CallContext
from runtime_lib._telemetry import logs, propagation

log = logging.getLogger("runtime_lib.rpc")

# Raised by the runtime around a handler rather than by its logic: they say what they mean.
_PASSED_ON = (HandlerError, BadRequestError, ConflictError)


def caller_error(exc: Exception, ctx: CallContext, *, expose: bool) -> ServiceBridgeError:
    """The error the caller receives for ``exc`` raised by the handler of ``ctx``."""
    if isinstance(exc, _PASSED_ON):
        return exc
    if isinstance(exc, NotImplementedError):
        return UnimplementedError(f"{ctx.method} is not implemented by this server")
    request_id = ctx.request_id or uuid.uuid4().hex
    trace_id = _trace_id(ctx)
    log.error(
        "handler of %s failed (request id %s, trace id %s)",
        ctx.method,
        request_id,
        trace_id or "-",
        exc_info=exc,
        extra={"request_id": request_id, "trace_id": trace_id, "rpc_method": ctx.method},
    )
    message = f"internal error in {ctx.method} (request id {request_id})"
    if expose:
        message = f"{message}: {type(exc).__name__}: {exc}"
    return HandlerError("INTERNAL", message)


def _trace_id(ctx: CallContext) -> str:
    """The current span's trace id, else the caller's from ``traceparent`` (telemetry off)."""
    trace_id, _ = logs.current_ids()
    if trace_id:
        return trace_id
    remote = trace.get_current_span(propagation.extract_metadata(ctx.metadata))
    span_context = remote.get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""
