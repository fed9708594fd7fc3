"""Tracer and meter providers for one bridge, built from its :class:`TelemetryConfig`.

``off`` uses the OpenTelemetry API's no-op providers and never imports the SDK. Every other
exporter builds an SDK ``TracerProvider`` and ``MeterProvider`` owned by the bridge alone (two
bridges in one process report separately). Every SDK setting is passed explicitly, so nothing
is taken from ``OTEL_*`` environment variables behind the user's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace

from runtime_lib._errors import ConfigError
from runtime_lib._telemetry.config import TelemetryConfig

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_INSTALL_HINT = "install the SDK extra: pip install 'sb-gen[telemetry]'"


class MemoryExport:
    """What the ``memory`` exporter kept: finished spans and collected metrics (for tests)."""

    def __init__(self, spans: InMemorySpanExporter, reader: InMemoryMetricReader) -> None:
        self._spans = spans
        self._reader = reader

    def spans(self) -> tuple[ReadableSpan, ...]:
        """Every finished span, in the order they ended."""
        return tuple(self._spans.get_finished_spans())

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Metric name to ``(attributes, point)`` pairs, from a collection made now."""
        data = self._reader.get_metrics_data()
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = found.setdefault(metric.name, [])
                    points.extend((dict(p.attributes or {}), p) for p in metric.data.data_points)
        return found

    def clear(self) -> None:
        self._spans.clear()


@dataclass(slots=True)
class Providers:
    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    memory: MemoryExport | None = None

    def force_flush(self) -> None:
        for provider in (self.tracer_provider, self.meter_provider):
            flush = getattr(provider, "force_flush", None)
            if flush is not None:
                flush()

    def shutdown(self) -> None:
        for provider in (self.tracer_provider, self.meter_provider):
            shutdown = getattr(provider, "shutdown", None)
            if shutdown is not None:
                shutdown()


def build(config: TelemetryConfig, service: str) -> Providers:
    if not config.enabled:
        return Providers(trace.NoOpTracerProvider(), metrics.NoOpMeterProvider())
    try:
        providers = _build_sdk(config, config.service_name or service)
    except ImportError as exc:
        raise ConfigError(
            f"telemetry exporter {config.exporter!r} needs {exc.name or 'the OpenTelemetry SDK'}: "
            f"{_INSTALL_HINT}"
        ) from exc
    if config.set_global:
        trace.set_tracer_provider(providers.tracer_provider)
        metrics.set_meter_provider(providers.meter_provider)
    return providers


def _build_sdk(config: TelemetryConfig, service: str) -> Providers:
    from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    resource = Resource({"service.name": service})
    tracer_provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(config.sampling_ratio)),
        resource=resource,
        span_limits=SpanLimits(
            max_attributes=128,
            max_events=128,
            max_links=128,
            max_span_attributes=128,
            max_event_attributes=128,
            max_link_attributes=128,
            max_attribute_length=4096,
            max_span_attribute_length=4096,
        ),
    )
    memory: MemoryExport | None = None
    readers: list[MetricReader] = []
    processor: SpanProcessor
    if config.exporter == "memory":
        # Synchronous export, so a test sees a span as soon as it has ended.
        spans = InMemorySpanExporter()
        reader = InMemoryMetricReader()
        processor = SimpleSpanProcessor(spans)
        readers.append(reader)
        memory = MemoryExport(spans, reader)
    else:
        processor = _batch(_span_exporter(config))
        if config.exporter != "file":  # the file holds spans only
            readers.append(_periodic_reader(config))
    tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(
        metric_readers=readers, resource=resource, exemplar_filter=TraceBasedExemplarFilter()
    )
    return Providers(tracer_provider, meter_provider, memory)


def _span_exporter(config: TelemetryConfig) -> SpanExporter:
    if config.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if config.exporter == "file":
        from runtime_lib._telemetry.file_exporter import JsonLinesSpanExporter

        assert config.path is not None  # TelemetryConfig checks it
        return JsonLinesSpanExporter(Path(config.path))
    # The otlp exporter is optional (the ``telemetry`` extra): typed only where it is installed.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
        OTLPSpanExporter,
    )

    otlp: SpanExporter = OTLPSpanExporter(endpoint=config.otlp_endpoint)
    return otlp


def _periodic_reader(config: TelemetryConfig) -> MetricReader:
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricExporter,
        PeriodicExportingMetricReader,
    )

    exporter: MetricExporter
    if config.exporter == "console":
        exporter = ConsoleMetricExporter()
    else:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPMetricExporter,
        )

        exporter = OTLPMetricExporter(endpoint=config.otlp_endpoint)
    return PeriodicExportingMetricReader(
        exporter,
        export_interval_millis=config.metrics_interval * 1000,
        export_timeout_millis=30_000,
    )


def _batch(exporter: SpanExporter) -> SpanProcessor:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(
        exporter,
        max_queue_size=2048,
        schedule_delay_millis=1000,
        max_export_batch_size=512,
        export_timeout_millis=30_000,
    )
