"""W3C trace context (``traceparent``/``tracestate``) in gRPC metadata and in event headers.

Always W3C, whatever global propagator the process configured: it is the wire convention
(docs/wire.md), so any OpenTelemetry-instrumented peer continues the trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_W3C = TraceContextTextMapPropagator()

MetadataPairs = Iterable[tuple[str, str | bytes]]


class _PairsGetter(Getter[Mapping[str, str]]):
    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _PairsGetter()


def headers_for(context: Context | None = None) -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) for ``context`` (default: the current one)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context)
    return carrier


def inject_headers(headers: MutableMapping[str, str], context: Context | None = None) -> None:
    """Add the trace context to an event's header dict."""
    _W3C.inject(headers, context)


def extract_headers(headers: Mapping[str, str]) -> Context:
    """The remote parent carried by event headers (an empty context when there is none)."""
    lowered = {k.lower(): v for k, v in headers.items() if k.lower() in (TRACEPARENT, TRACESTATE)}
    return _W3C.extract(lowered, getter=_GETTER)


def inject_metadata(
    metadata: list[tuple[str, str]], context: Context | None = None
) -> list[tuple[str, str]]:
    """Append the trace context to gRPC metadata pairs; returns the same list."""
    metadata.extend(headers_for(context).items())
    return metadata


def extract_metadata(metadata: MetadataPairs | Mapping[str, str | bytes]) -> Context:
    """The remote parent carried by gRPC metadata (pairs, or a dict of them)."""
    pairs = metadata.items() if isinstance(metadata, Mapping) else metadata
    found: dict[str, str] = {}
    for key, value in pairs:
        if key in (TRACEPARENT, TRACESTATE) and isinstance(value, str):
            found[key] = value
    return _W3C.extract(found, getter=_GETTER)
