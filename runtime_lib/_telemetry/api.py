"""Telemetry: one per bridge (``bridge.telemetry``). User code gets ``op``, metrics and ``log``;
the RPC and events code get one observer per hop (see ``spans.py``).

    @bridge.telemetry.op("reprice-cart")
    async def reprice(cart: Cart) -> None: ...

    with bridge.telemetry.op("reserve-stock", business_key=order_id) as op:
        op.set(items=len(order.items))
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.metrics import _Gauge as Gauge  # the API's synchronous gauge, named privately
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from runtime_lib._errors import ConfigError
from runtime_lib._telemetry import provider, spans
from runtime_lib._telemetry.config import TelemetryConfig
from runtime_lib._telemetry.logs import SPAN_ID, TRACE_ID, current_ids
from runtime_lib._telemetry.metrics import BreakerSource, OutboxSource, RuntimeMetrics

F = TypeVar("F", bound=Callable[..., Any])

INSTRUMENTATION_NAME = "runtime_lib"
BUSINESS_KEY = "sb.business_key"


def _attribute(value: Any) -> AttributeValue:
    """OpenTelemetry takes str, bool, int, float and sequences of one of them; str() the rest."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (str, bool, int, float)) for v in value
    ):
        return cast(AttributeValue, list(value))
    return str(value)


def _attributes(values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    return {k: _attribute(v) for k, v in values.items()}


class Op:
    """A user operation: an INTERNAL span nested under the current one (a handler's, usually).

    Use it as ``with``/``async with`` (each ``telemetry.op(...)`` is entered once), or as a
    decorator of a sync or async function (each call gets its own span). An exception leaving
    it marks the span as an error and propagates.
    """

    __slots__ = ("_attributes", "_name", "_span", "_token", "_tracer")

    def __init__(self, tracer: Tracer | None, name: str, attributes: dict[str, AttributeValue]):
        self._tracer = tracer
        self._name = name
        self._attributes = attributes
        self._span: Span = trace.INVALID_SPAN
        self._token: Token[Context] | None = None

    @property
    def span(self) -> Span:
        """The OpenTelemetry span (a non-recording one when telemetry is off)."""
        return self._span

    def set(self, **attributes: Any) -> None:
        """Add attributes to the span."""
        if self._span.is_recording():
            self._span.set_attributes(_attributes(attributes))

    def event(self, name: str, **attributes: Any) -> None:
        """Add a timestamped event to the span."""
        if self._span.is_recording():
            self._span.add_event(name, _attributes(attributes))

    def __enter__(self) -> Op:
        if self._tracer is None:
            return self
        if self._token is not None:
            raise RuntimeError(f"op {self._name!r} is already running: call op() for another")
        self._span = self._tracer.start_span(
            self._name, kind=SpanKind.INTERNAL, attributes=self._attributes
        )
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is None:
            return
        span = self._span
        if exc is not None and span.is_recording():
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.end()
        otel_context.detach(self._token)
        self._token = None

    async def __aenter__(self) -> Op:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, function: F) -> F:
        if inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function):
            raise TypeError(f"op() decorates functions and coroutines, not generators: {function}")
        tracer, name, attributes = self._tracer, self._name, self._attributes
        if tracer is None:
            return function

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with Op(tracer, name, attributes):
                    return await function(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with Op(tracer, name, attributes):
                return function(*args, **kwargs)

        return cast(F, run)


class Telemetry:
    """The telemetry of one bridge: its tracer and meter, built from a :class:`TelemetryConfig`."""

    def __init__(self, service: str, config: TelemetryConfig | None = None) -> None:
        self.config = config or TelemetryConfig()
        self.service = self.config.service_name or service
        self.enabled = self.config.enabled
        self._providers = provider.build(self.config, self.service)
        self.tracer: Tracer = self._providers.tracer_provider.get_tracer(INSTRUMENTATION_NAME)
        self.meter: Meter = self._providers.meter_provider.get_meter(INSTRUMENTATION_NAME)
        self._runtime = RuntimeMetrics(self.meter, self.service) if self.enabled else None
        self._instruments: dict[tuple[str, str], Any] = {}
        self._logger = logging.getLogger(f"sb.{self.service}")

    # -- user API ------------------------------------------------------------------------------

    def op(self, name: str, *, business_key: str | None = None, **attributes: Any) -> Op:
        """A span for a piece of user work: ``with``, ``async with`` or a decorator."""
        if not self.enabled:
            return Op(None, name, {})
        values = _attributes(attributes)
        if business_key is not None:
            values[BUSINESS_KEY] = business_key
        return Op(self.tracer, name, values)

    def counter(self, name: str, *, unit: str = "", description: str = "") -> Counter:
        """A monotonic counter (``.add(n, attributes)``), one per name."""
        return cast(Counter, self._instrument("counter", name, unit, description))

    def gauge(self, name: str, *, unit: str = "", description: str = "") -> Gauge:
        """A gauge (``.set(value, attributes)``): the last value wins."""
        return cast(Gauge, self._instrument("gauge", name, unit, description))

    def histogram(self, name: str, *, unit: str = "", description: str = "") -> Histogram:
        """A histogram (``.record(value, attributes)``)."""
        return cast(Histogram, self._instrument("histogram", name, unit, description))

    def _instrument(self, kind: str, name: str, unit: str, description: str) -> Any:
        key = (kind, name)
        instrument = self._instruments.get(key)
        if instrument is None:
            create = {
                "counter": self.meter.create_counter,
                "gauge": self.meter.create_gauge,
                "histogram": self.meter.create_histogram,
            }[kind]
            instrument = create(name, unit=unit, description=description)
            self._instruments[key] = instrument
        return instrument

    def log(self, level: int | str, msg: str, **attributes: Any) -> None:
        """Log through the ``sb.<service>`` logger with the current trace and span ids, and add
        the message as a ``log`` event to the current span."""
        levelno = (
            level if isinstance(level, int) else logging.getLevelNamesMapping().get(level.upper())
        )
        if levelno is None:
            raise ConfigError(f"unknown log level {level!r}")
        span = trace.get_current_span()
        if span.is_recording():
            event = {"log.severity": logging.getLevelName(levelno), "log.message": msg}
            span.add_event("log", {**event, **_attributes(attributes)})
        if self._logger.isEnabledFor(levelno):
            trace_id, span_id = current_ids()
            extra = {TRACE_ID: trace_id, SPAN_ID: span_id, "sb_attributes": attributes}
            self._logger.log(levelno, msg, extra=extra, stacklevel=2)

    @property
    def memory(self) -> provider.MemoryExport:
        """Spans and metrics kept by the ``memory`` exporter."""
        if self._providers.memory is None:
            raise ConfigError(f'telemetry exporter is {self.config.exporter!r}, not "memory"')
        return self._providers.memory

    def force_flush(self) -> None:
        """Export everything finished so far (the bridge does it on ``stop()``)."""
        self._providers.force_flush()

    def shutdown(self) -> None:
        """Flush and stop the exporters; the telemetry records nothing after this."""
        self._providers.shutdown()

    # -- runtime hooks -------------------------------------------------------------------------

    def rpc_client(self, path: str) -> spans.RpcClientCall:
        """The observer of one logical outgoing call to method ``path``."""
        if self._runtime is None:
            return spans.NO_RPC_CLIENT
        return spans.RecordingClientCall(self.tracer, self._runtime, path)

    def rpc_server(
        self, path: str, metadata: Mapping[str, str | bytes], caller: str = ""
    ) -> spans.RpcServerCall:
        """The observer of one handled call; enter it around the handler."""
        if self._runtime is None:
            return spans.NO_RPC_SERVER
        return spans.RecordingServerCall(self.tracer, self._runtime, path, metadata, caller)

    def publish(self, name: str, event_id: str) -> spans.EventPublish:
        """The observer of one publish; put its ``headers()`` in the event."""
        if self._runtime is None:
            return spans.NO_PUBLISH
        return spans.RecordingPublish(self.tracer, self._runtime, name, event_id)

    def deliver(
        self,
        *,
        name: str,
        event_id: str,
        trace_headers: Mapping[str, str],
        attempt: int,
        group: str,
        subscription: str,
    ) -> spans.EventDelivery:
        """The observer of one delivery; enter it around the handler."""
        if self._runtime is None:
            return spans.NO_DELIVERY
        return spans.RecordingDelivery(
            self.tracer,
            self._runtime,
            name=name,
            event_id=event_id,
            trace_headers=trace_headers,
            attempt=attempt,
            group=group,
            subscription=subscription,
        )

    def observe_breakers(self, source: BreakerSource) -> None:
        """Report breaker states from ``source`` at every metric collection."""
        if self._runtime is not None:
            self._runtime.observe_breakers(source)

    def observe_outbox(self, source: OutboxSource) -> None:
        """Report outbox depth and oldest-row age from ``source`` at every metric collection."""
        if self._runtime is not None:
            self._runtime.observe_outbox(source)


DISABLED = Telemetry("disabled")
"""What a part of the runtime built without a bridge (in tests, say) reports to: nothing."""
