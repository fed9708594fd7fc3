"""Shared by the telemetry tests: memory-exported bridges' telemetry and span lookups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry.sdk.trace import ReadableSpan

from runtime_lib._telemetry.api import Telemetry
from runtime_lib._telemetry.config import TelemetryConfig


def memory_telemetry(service: str, **options: object) -> Telemetry:
    return Telemetry(service, TelemetryConfig(exporter="memory", **options))  # type: ignore[arg-type]


def spans_of(*telemetries: Telemetry) -> list[ReadableSpan]:
    """Every finished span of these telemetries, oldest start first."""
    found = [s for t in telemetries for s in t.memory.spans()]
    return sorted(found, key=lambda s: s.start_time or 0)


def one(spans: Iterable[ReadableSpan], name: str, kind: str | None = None) -> ReadableSpan:
    matches = [s for s in spans if s.name == name and (kind is None or s.kind.name == kind)]
    assert len(matches) == 1, f"expected one {kind or ''} span {name!r}, got {len(matches)}"
    return matches[0]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    found: int = span.context.span_id
    return found


def tree(spans: Sequence[ReadableSpan]) -> list[tuple[int, str, str, str]]:
    """``(depth, kind, name, status)`` per span, depth-first in start order: the exact shape."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {span_id(s) for s in spans}
    for span in spans:
        parent = parent_id(span)
        by_parent.setdefault(parent if parent in ids else None, []).append(span)
    rows: list[tuple[int, str, str, str]] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0):
            rows.append((depth, span.kind.name, span.name, span.status.status_code.name))
            walk(span_id(span), depth + 1)

    walk(None, 0)
    return rows
