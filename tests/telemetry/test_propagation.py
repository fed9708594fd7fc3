"""W3C trace context round trips through gRPC metadata and event headers."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from runtime_lib._telemetry import propagation

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _context() -> object:
    span = NonRecordingSpan(
        SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1))
    )
    return trace.set_span_in_context(span)


def test_metadata_round_trip() -> None:
    metadata = propagation.inject_metadata([("sb-caller", "orders")], _context())  # type: ignore[arg-type]
    assert metadata == [("sb-caller", "orders"), ("traceparent", TRACEPARENT)]
    extracted = propagation.extract_metadata(metadata)
    remote = trace.get_current_span(extracted).get_span_context()
    assert (remote.trace_id, remote.span_id, remote.is_remote) == (TRACE_ID, SPAN_ID, True)
    assert propagation.inject_metadata([], extracted) == [("traceparent", TRACEPARENT)]


def test_metadata_as_dict_and_binary_values() -> None:
    extracted = propagation.extract_metadata({"traceparent": TRACEPARENT})
    assert trace.get_current_span(extracted).get_span_context().span_id == SPAN_ID
    # Binary metadata values (``-bin`` keys) are never trace context.
    ignored = propagation.extract_metadata([("traceparent", TRACEPARENT.encode())])
    assert not trace.get_current_span(ignored).get_span_context().is_valid


def test_headers_round_trip_any_case() -> None:
    headers: dict[str, str] = {"sb-id": "evt-1"}
    propagation.inject_headers(headers, _context())  # type: ignore[arg-type]
    assert headers == {"sb-id": "evt-1", "traceparent": TRACEPARENT}
    extracted = propagation.extract_headers({"Traceparent": TRACEPARENT, "tracestate": "k=v"})
    remote = trace.get_current_span(extracted).get_span_context()
    assert remote.span_id == SPAN_ID
    assert propagation.headers_for(extracted) == {"traceparent": TRACEPARENT, "tracestate": "k=v"}


def test_malformed_or_missing_context_starts_a_new_trace() -> None:
    for carrier in ({}, {"traceparent": "garbage"}, {"traceparent": "00-" + "0" * 32 + "-1-01"}):
        extracted = propagation.extract_headers(carrier)
        assert not trace.get_current_span(extracted).get_span_context().is_valid
    assert propagation.headers_for() == {}  # no current span: nothing to send
