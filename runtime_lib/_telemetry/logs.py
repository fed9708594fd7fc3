"""Trace and span ids on ``logging`` records, so a log line leads to its trace.

Add the filter to the handler that formats the records (a filter on a logger does not see the
records of its child loggers), then use the fields in the format:

    handler = logging.StreamHandler()
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s [%(trace_id)s %(span_id)s] %(message)s"))

Inside a handler (or any span) the fields are the hex ids of the current span; elsewhere they are
empty strings, so the format never fails.
"""

from __future__ import annotations

import logging

from opentelemetry import trace

TRACE_ID = "trace_id"
SPAN_ID = "span_id"


def current_ids() -> tuple[str, str]:
    """``(trace_id, span_id)`` of the current span as hex, or empty strings outside any span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class TraceContextFilter(logging.Filter):
    """Sets ``record.trace_id`` and ``record.span_id``; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Ids set by the emitter (Telemetry.log) are kept: they were read in the right context.
        if not hasattr(record, TRACE_ID):
            record.trace_id, record.span_id = current_ids()
        return True
