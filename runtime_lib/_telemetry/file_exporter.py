"""The ``file`` exporter: finished spans appended to a file as JSON lines, for ``sb-trace``.

One object per line: trace_id, span_id, parent_span_id, name, kind, service, start_ns, end_ns,
status {code, message}, attributes, events [{name, time_ns, attributes}], links [{trace_id,
span_id, attributes}]. Ids are lowercase hex. Each batch is one ``write`` on a file opened for
appending, so several bridges (or processes) can share one file without interleaving lines.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.types import AttributeValue

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def _attributes(attributes: Mapping[str, AttributeValue] | None) -> dict[str, Any]:
    return {
        k: list(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
        for k, v in (attributes or {}).items()
    }


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The JSON object of one finished span."""
    context = span.get_span_context()
    assert context is not None  # every SDK span has one
    parent = span.parent
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": str(span.resource.attributes.get("service.name", "")),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": {"code": span.status.status_code.name, "message": span.status.description or ""},
        "attributes": _attributes(span.attributes),
        "events": [
            {"name": e.name, "time_ns": e.timestamp, "attributes": _attributes(e.attributes)}
            for e in span.events
        ],
        "links": [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
                "attributes": _attributes(link.attributes),
            }
            for link in span.links
        ],
    }


class JsonLinesSpanExporter(SpanExporter):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = _lock_for(path.resolve())
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        text = "".join(
            json.dumps(span_record(span), separators=(",", ":"), default=str) + "\n"
            for span in spans
        )
        data = text.encode()
        try:
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing stays open between exports."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
