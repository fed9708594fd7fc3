"""``sb-trace FILE [TRACE_ID]``: read the ``file`` exporter's JSON lines and show traces.

Without a trace id it lists the traces in the file (id, root operation, spans, duration, errors),
oldest first. With one it prints that trace as a waterfall: one line per span, indented under
its parent, with its service, operation, a bar placed and scaled on the trace's time line to fit
the terminal, its duration, and errors marked. Exit status: 0, or 1 with a message on stderr.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


class TraceError(Exception):
    """A problem to report as ``sb-trace: ...`` with exit status 1."""


@dataclass(slots=True)
class SpanRow:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    service: str
    start: int
    end: int
    error: str | None
    children: list[SpanRow] = field(default_factory=list)

    @property
    def duration(self) -> int:
        return max(0, self.end - self.start)


@dataclass(slots=True)
class Trace:
    trace_id: str
    spans: list[SpanRow]
    roots: list[SpanRow]

    @property
    def start(self) -> int:
        return min(s.start for s in self.spans)

    @property
    def end(self) -> int:
        return max(s.end for s in self.spans)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.spans if s.error is not None)


def _row(record: dict[str, Any]) -> SpanRow:
    status = record.get("status") or {}
    failed = status.get("code") == "ERROR"
    return SpanRow(
        trace_id=str(record["trace_id"]),
        span_id=str(record["span_id"]),
        parent_id=record.get("parent_span_id") or None,
        name=str(record["name"]),
        kind=str(record.get("kind", "INTERNAL")),
        service=str(record.get("service", "")),
        start=int(record["start_ns"]),
        end=int(record["end_ns"]),
        error=(status.get("message") or "error") if failed else None,
    )


def read_spans(path: Path) -> list[SpanRow]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceError(f"{path}: no such file") from None
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror}") from None
    rows: list[SpanRow] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(_row(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise TraceError(
                f"{path}:{number}: not a span record ({type(exc).__name__}: {exc}); "
                "expected the JSON lines of the file exporter"
            ) from None
    return rows


def group_traces(rows: Sequence[SpanRow]) -> list[Trace]:
    """Traces oldest first; in each, spans whose parent is not in the file are roots."""
    by_trace: dict[str, list[SpanRow]] = {}
    for row in rows:
        by_trace.setdefault(row.trace_id, []).append(row)
    traces = []
    for trace_id, spans in by_trace.items():
        spans.sort(key=lambda s: (s.start, s.end))
        by_id = {s.span_id: s for s in spans}
        roots = []
        for span in spans:
            parent = by_id.get(span.parent_id) if span.parent_id else None
            if parent is None or parent is span:
                roots.append(span)
            else:
                parent.children.append(span)
        traces.append(Trace(trace_id, spans, roots))
    traces.sort(key=lambda t: t.start)
    return traces


def format_duration(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.2f} s"
    if ns >= 10_000_000:
        return f"{ns / 1e6:.0f} ms"
    return f"{ns / 1e6:.2f} ms"


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: max(0, width - 1)] + "~"


def list_traces(traces: Sequence[Trace], out: TextIO) -> None:
    width = max([len("ROOT"), *(len(_root_label(t)) for t in traces)])
    out.write(f"{'TRACE':32}  {'ROOT':{width}}  {'SPANS':>5}  {'DURATION':>9}  ERRORS\n")
    for t in traces:
        errors = str(t.errors) if t.errors else "-"
        out.write(
            f"{t.trace_id:32}  {_root_label(t):{width}}  {len(t.spans):>5}  "
            f"{format_duration(t.end - t.start):>9}  {errors}\n"
        )


def _root_label(t: Trace) -> str:
    root = t.roots[0]
    return f"{root.service}: {root.name}" if root.service else root.name


@dataclass(frozen=True, slots=True)
class Glyphs:
    bar: str
    error: str


def glyphs_for(stream: TextIO) -> Glyphs:
    """Block bars where the terminal's encoding has them, ASCII elsewhere."""
    try:
        "█✗".encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return Glyphs("#", "x")
    return Glyphs("█", "✗")


def _walk(spans: Sequence[SpanRow], depth: int = 0) -> Iterator[tuple[int, SpanRow]]:
    for span in spans:
        yield depth, span
        yield from _walk(span.children, depth + 1)


def _bar(span: SpanRow, t0: int, total: int, width: int, glyph: str) -> str:
    begin = min(width - 1, (span.start - t0) * width // total)
    length = max(1, round(span.duration * width / total))
    length = min(length, width - begin)
    return (" " * begin + glyph * length).ljust(width)


def print_trace(t: Trace, out: TextIO, columns: int, glyphs: Glyphs) -> None:
    """The waterfall: service, indented operation, bar on the trace's time line, duration."""
    t0, total = t.start, max(1, t.end - t.start)
    rows = list(_walk(t.roots))
    service_w = max(len("SERVICE"), *(len(span.service) for _, span in rows))
    operations = [f"{'  ' * depth}{span.name}" for depth, span in rows]
    durations = [format_duration(span.duration) for _, span in rows]
    duration_w = max(len(d) for d in durations)
    label_w = min(
        max(len("OPERATION"), *(len(op) for op in operations)),
        max(16, columns * 2 // 5 - service_w),
    )
    # One column short of the width, so a terminal never wraps a full line.
    bar_w = max(10, columns - 1 - service_w - label_w - duration_w - 8)
    errors = f", {t.errors} with errors" if t.errors else ""
    out.write(
        f"trace {t.trace_id}  {len(t.spans)} spans  {format_duration(t.end - t.start)}{errors}\n"
    )
    scale_end = format_duration(total)
    out.write(
        f"  {'SERVICE':{service_w}}  {'OPERATION':{label_w}} "
        f"|{'0'.ljust(bar_w - len(scale_end))}{scale_end}|\n"
    )
    for (depth, span), operation, duration in zip(rows, operations, durations, strict=True):
        mark = glyphs.error if span.error is not None else " "
        out.write(
            f"{mark} {span.service:{service_w}}  {_fit(operation, label_w)} "
            f"|{_bar(span, t0, total, bar_w, glyphs.bar)}| {duration:>{duration_w}}\n"
        )
        if span.error is not None:
            indent = " " * (2 + service_w + 2 + 2 * depth + 2)
            out.write(_fit(f"{indent}{glyphs.error} {span.error}", columns - 1).rstrip() + "\n")


def _shared(a: str, b: str) -> int:
    """Length of the common prefix of ``a`` and ``b``."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def _suggest(trace_id: str, known: Sequence[str]) -> str:
    shared = {k: _shared(k, trace_id.lower()) for k in known}
    best = max(shared.values(), default=0)
    if best < min(4, len(trace_id)):
        return " (run sb-trace FILE to list the traces)"
    matches = sorted(k for k, n in shared.items() if n == best)[:3]
    return f"; did you mean {' or '.join(matches)}?"


def run(path: Path, trace_id: str | None, out: TextIO) -> None:
    traces = group_traces(read_spans(path))
    if trace_id is None:
        if not traces:
            raise TraceError(f"{path}: no spans in the file")
        list_traces(traces, out)
        return
    by_id = {t.trace_id: t for t in traces}
    found = by_id.get(trace_id.lower())
    if found is None:
        raise TraceError(f"no trace {trace_id} in {path}{_suggest(trace_id, list(by_id))}")
    columns = shutil.get_terminal_size((100, 24)).columns
    print_trace(found, out, columns, glyphs_for(out))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sb-trace",
        description="Show the traces in a JSON-lines span file written by the 'file' exporter.",
    )
    parser.add_argument("file", type=Path, help="the span file (TelemetryConfig path=)")
    parser.add_argument("trace_id", nargs="?", help="show this trace as a timeline")
    args = parser.parse_args(argv)
    try:
        run(args.file, args.trace_id, sys.stdout)
    except TraceError as exc:
        print(f"sb-trace: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
