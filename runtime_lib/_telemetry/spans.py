"""One observer per hop: the span and the metrics of a client call, a handled call, a publish and
a delivery, following the OpenTelemetry semantic conventions for RPC and messaging.

The RPC and events code holds one of these per call or event and tells it what happened. The
base classes do nothing: with telemetry off the bridge hands out one shared instance of each,
so an instrumented call costs a method call and builds no attributes. The ``Recording*``
subclasses do the work, and skip attribute building when the trace is not sampled.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer

from runtime_lib._errors import ServiceBridgeError
from runtime_lib._rpc.status_codes import SERVER_ERROR_STATUSES, grpc_status
from runtime_lib._telemetry import propagation
from runtime_lib._telemetry.metrics import RuntimeMetrics

MESSAGING_SYSTEM = "nats"


@functools.lru_cache(maxsize=1024)
def split_path(path: str) -> tuple[str, str]:
    """``/payment.v1.Payment/Charge`` -> ``("payment.v1.Payment", "Charge")``."""
    service, _, method = path.lstrip("/").rpartition("/")
    return service, method


def _error_type(error: BaseException) -> str:
    return str(error.code) if isinstance(error, ServiceBridgeError) else type(error).__qualname__


def _record_error(span: Span, error: BaseException, *, mark: bool = True) -> None:
    span.record_exception(error)
    span.set_attribute("error.type", _error_type(error))
    if mark:
        span.set_status(Status(StatusCode.ERROR, str(error)))


def _split_address(address: str) -> tuple[str, int | None]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return address, None
    return host.strip("[]"), int(port)


class _Hop:
    """Shared context-manager plumbing: ``with hop:`` ends it with the exception, if any."""

    __slots__ = ()

    def end(self, error: BaseException | None = None) -> None:
        """Close the span and record the metrics (once; later calls do nothing)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end(exc)


# -- RPC client --------------------------------------------------------------------------------


class RpcClientCall(_Hop):
    """One logical outgoing call, however many attempts it takes (kind CLIENT).

    Not made the current span: nothing else runs inside it, and a streaming call outlives the
    caller's frames. Its context reaches the server through :meth:`metadata`.
    """

    __slots__ = ()

    def metadata(self) -> list[tuple[str, str]]:
        """``traceparent`` (and ``tracestate``) pairs for the call's gRPC metadata."""
        return []

    def attempt(self, number: int, address: str) -> None:
        """Attempt ``number`` (from 1) goes to ``address``; 2 and up count as retries."""

    def __enter__(self) -> RpcClientCall:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # GeneratorExit: the reader of a reply stream left early, its choice, not a failed call.
        self.end(None if isinstance(exc, GeneratorExit) else exc)


class RecordingClientCall(RpcClientCall):
    __slots__ = ("_attrs", "_ended", "_key", "_metrics", "_span", "_start")

    def __init__(self, tracer: Tracer, metrics: RuntimeMetrics, path: str) -> None:
        service, method = split_path(path)
        self._attrs: dict[str, Any] = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": method,
        }
        self._metrics = metrics
        self._span = tracer.start_span(
            path.lstrip("/"), kind=SpanKind.CLIENT, attributes=self._attrs
        )
        self._ended = False
        self._key = (("rpc.service", service), ("rpc.method", method))
        metrics.client_active.add(1, self._key)
        self._start = time.perf_counter()

    def metadata(self) -> list[tuple[str, str]]:
        return list(propagation.headers_for(trace.set_span_in_context(self._span)).items())

    def attempt(self, number: int, address: str) -> None:
        if number > 1:
            self._metrics.retries.add(1, self._attrs)
        span = self._span
        if span.is_recording():
            host, port = _split_address(address)
            where: dict[str, Any] = {"server.address": host}
            if port is not None:
                where["server.port"] = port
            span.set_attributes({**where, "sb.attempts": number})
            span.add_event("attempt", {"sb.attempt": number, **where})

    def end(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        code = grpc_status(error)
        elapsed = time.perf_counter() - self._start
        done = {**self._attrs, "rpc.grpc.status_code": code.value[0]}
        self._metrics.client_duration.record(elapsed, done)
        self._metrics.client_active.add(-1, self._key)
        span = self._span
        if span.is_recording():
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if error is not None:
                _record_error(span, error)
        span.end()


# -- RPC server --------------------------------------------------------------------------------


class RpcServerCall(_Hop):
    """One handled call (kind SERVER), the current span while the handler runs; its parent is
    the caller's span from the ``traceparent`` metadata."""

    __slots__ = ()

    def __enter__(self) -> RpcServerCall:
        return self


class RecordingServerCall(RpcServerCall):
    __slots__ = ("_attrs", "_ended", "_key", "_metrics", "_span", "_start", "_token")

    def __init__(
        self,
        tracer: Tracer,
        metrics: RuntimeMetrics,
        path: str,
        metadata: Mapping[str, str | bytes],
        caller: str,
    ) -> None:
        service, method = split_path(path)
        self._attrs: dict[str, Any] = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": method,
        }
        self._metrics = metrics
        parent = propagation.extract_metadata(metadata)
        self._span = tracer.start_span(
            path.lstrip("/"), context=parent, kind=SpanKind.SERVER, attributes=self._attrs
        )
        if caller and self._span.is_recording():
            self._span.set_attribute("sb.caller", caller)
        self._token: Token[Context] | None = None
        self._ended = False
        self._key = (("rpc.service", service), ("rpc.method", method))
        metrics.server_active.add(1, self._key)
        self._start = time.perf_counter()

    def __enter__(self) -> RpcServerCall:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def end(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        code = grpc_status(error)
        elapsed = time.perf_counter() - self._start
        self._metrics.server_duration.record(
            elapsed, {**self._attrs, "rpc.grpc.status_code": code.value[0]}
        )
        self._metrics.server_active.add(-1, self._key)
        span = self._span
        if span.is_recording():
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if error is not None:
                _record_error(span, error, mark=code in SERVER_ERROR_STATUSES)
        span.end()
        if self._token is not None:
            otel_context.detach(self._token)
            self._token = None


# -- events ------------------------------------------------------------------------------------


def _messaging_attrs(name: str, operation: str, event_id: str) -> dict[str, Any]:
    return {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": name,
        "messaging.operation.type": "send" if operation == "publish" else operation,
        "messaging.operation.name": operation,
        "messaging.message.id": event_id,
    }


class EventPublish(_Hop):
    """One publish (kind PRODUCER), ended once the event is durable in the outbox.

    Its context travels in the event's headers (:meth:`headers`), so the delivery continues the
    trace even when it happens in another process, long after.
    """

    __slots__ = ()

    def headers(self) -> dict[str, str]:
        """``traceparent`` (and ``tracestate``) for the event's headers."""
        return {}

    def __enter__(self) -> EventPublish:
        return self


class RecordingPublish(EventPublish):
    __slots__ = ("_attrs", "_ended", "_metrics", "_span")

    def __init__(self, tracer: Tracer, metrics: RuntimeMetrics, name: str, event_id: str) -> None:
        self._attrs = {"messaging.system": MESSAGING_SYSTEM, "messaging.destination.name": name}
        self._metrics = metrics
        self._span = tracer.start_span(
            f"publish {name}",
            kind=SpanKind.PRODUCER,
            attributes=_messaging_attrs(name, "publish", event_id),
        )
        self._ended = False

    def headers(self) -> dict[str, str]:
        return propagation.headers_for(trace.set_span_in_context(self._span))

    def end(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        if error is None:
            self._metrics.published.add(1, self._attrs)
        elif self._span.is_recording():
            _record_error(self._span, error)
        self._span.end()


class EventDelivery(_Hop):
    """One delivery of an event to one subscription (kind CONSUMER), the current span while the
    handler runs. Its parent is the producer's span from the event headers (one trace across
    the hop), also given as a link, as the messaging conventions ask of a ``process`` span.

    The subscriber reports the outcome: :meth:`acked`, :meth:`retry`, :meth:`dead_letter`;
    :meth:`failed` records the handler's exception.
    """

    __slots__ = ()

    def failed(self, error: BaseException) -> None:
        """The handler raised ``error`` (the span becomes an error)."""

    def acked(self) -> None:
        """Handled; acknowledged to the broker."""

    def retry(self, delay: float, reason: str = "") -> None:
        """Handed back for redelivery after ``delay`` seconds."""

    def dead_letter(self, reason: str) -> None:
        """Given up on: written to the dead-letter queue."""

    def __enter__(self) -> EventDelivery:
        return self


class RecordingDelivery(EventDelivery):
    __slots__ = ("_attrs", "_ended", "_metrics", "_span", "_token")

    def __init__(
        self,
        tracer: Tracer,
        metrics: RuntimeMetrics,
        *,
        name: str,
        event_id: str,
        trace_headers: Mapping[str, str],
        attempt: int,
        group: str,
        subscription: str,
    ) -> None:
        self._attrs = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.destination.name": name,
            "messaging.consumer.group.name": group,
        }
        self._metrics = metrics
        parent = propagation.extract_headers(trace_headers)
        producer = trace.get_current_span(parent).get_span_context()
        attributes = _messaging_attrs(name, "process", event_id)
        attributes["messaging.consumer.group.name"] = group
        attributes["messaging.destination.subscription.name"] = subscription
        attributes["sb.delivery.attempt"] = attempt
        self._span = tracer.start_span(
            f"process {name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=[Link(producer)] if producer.is_valid else (),
        )
        self._token: Token[Context] | None = None
        self._ended = False

    def __enter__(self) -> EventDelivery:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def failed(self, error: BaseException) -> None:
        if self._span.is_recording():
            _record_error(self._span, error)

    def acked(self) -> None:
        self._metrics.delivered.add(1, self._attrs)

    def retry(self, delay: float, reason: str = "") -> None:
        self._metrics.retried.add(1, self._attrs)
        if self._span.is_recording():
            self._span.add_event("retry", {"sb.retry.delay": delay, "sb.reason": reason})

    def dead_letter(self, reason: str) -> None:
        self._metrics.dead_lettered.add(1, self._attrs)
        span = self._span
        if span.is_recording():
            span.add_event("dead_letter", {"sb.reason": reason})
            span.set_status(Status(StatusCode.ERROR, f"dead-lettered: {reason}"))

    def end(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        if error is not None and self._span.is_recording():
            _record_error(self._span, error)
        self._span.end()
        if self._token is not None:
            otel_context.detach(self._token)
            self._token = None


# The shared no-op observers handed out while telemetry is off.
NO_RPC_CLIENT = RpcClientCall()
NO_RPC_SERVER = RpcServerCall()
NO_PUBLISH = EventPublish()
NO_DELIVERY = EventDelivery()
