"""The file exporter's JSON lines, and sb-trace reading them (run as the installed command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from runtime_lib._errors import HandlerError
from runtime_lib._telemetry.api import Telemetry
from runtime_lib._telemetry.config import TelemetryConfig

SB_TRACE = Path(sys.executable).with_name("sb-trace")
MS = 1_000_000
T0 = 1_700_000_000_000 * MS


def sb_trace(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    assert SB_TRACE.exists(), "sb-trace is not installed: pip install -e ."
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [str(SB_TRACE), *args], capture_output=True, text=True, env=env, check=False
    )


def file_telemetry(service: str, path: Path) -> Telemetry:
    return Telemetry(service, TelemetryConfig(exporter="file", path=path))


def write_fixed_trace(path: Path) -> str:
    """A checkout whose payment fails, at fixed instants (ms from T0), through the exporter."""
    orders, payment = file_telemetry("orders", path), file_telemetry("payment", path)

    def span(
        owner: Telemetry, name: str, kind: SpanKind, start: int, parent: Context | None = None
    ) -> Span:
        return owner.tracer.start_span(name, context=parent, kind=kind, start_time=T0 + start * MS)

    root = span(orders, "checkout", SpanKind.INTERNAL, 0)
    client = span(
        orders, "payment.v1.Payment/Charge", SpanKind.CLIENT, 10, trace.set_span_in_context(root)
    )
    server = span(
        payment, "payment.v1.Payment/Charge", SpanKind.SERVER, 20, trace.set_span_in_context(client)
    )
    server.set_status(Status(StatusCode.ERROR, "HANDLER CARD_DECLINED: declined"))
    server.end(end_time=T0 + 50 * MS)
    client.set_status(Status(StatusCode.ERROR, "HANDLER CARD_DECLINED: declined"))
    client.end(end_time=T0 + 60 * MS)
    publish = span(
        orders, "publish order.placed", SpanKind.PRODUCER, 70, trace.set_span_in_context(root)
    )
    publish.end(end_time=T0 + 75 * MS)
    root.end(end_time=T0 + 100 * MS)
    orders.shutdown()
    payment.shutdown()
    return format(root.get_span_context().trace_id, "032x")


def test_file_exporter_writes_one_json_object_per_span(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    orders, payment = file_telemetry("orders", path), file_telemetry("payment", path)
    with (
        pytest.raises(HandlerError),
        orders.op("checkout", business_key="o-1"),
        orders.rpc_client("/payment.v1.Payment/Charge") as call,
    ):
        call.attempt(1, "127.0.0.1:50051")
        with payment.rpc_server("/payment.v1.Payment/Charge", dict(call.metadata())):
            raise HandlerError("CARD_DECLINED", "declined")
    orders.force_flush()
    payment.force_flush()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    by_kind = {r["kind"]: r for r in records}
    assert set(by_kind) == {"INTERNAL", "CLIENT", "SERVER"}
    root, client, server = by_kind["INTERNAL"], by_kind["CLIENT"], by_kind["SERVER"]
    assert {r["trace_id"] for r in records} == {root["trace_id"]}
    assert (root["parent_span_id"], client["parent_span_id"], server["parent_span_id"]) == (
        None,
        root["span_id"],
        client["span_id"],
    )
    assert (root["service"], client["service"], server["service"]) == (
        "orders",
        "orders",
        "payment",
    )
    assert server["status"] == {"code": "ERROR", "message": "HANDLER CARD_DECLINED: declined"}
    assert server["attributes"]["rpc.grpc.status_code"] == 2
    assert client["events"][0]["name"] == "attempt"
    assert client["events"][0]["attributes"] == {
        "sb.attempt": 1,
        "server.address": "127.0.0.1",
        "server.port": 50051,
    }
    assert root["attributes"] == {"sb.business_key": "o-1"}
    assert all(r["start_ns"] <= r["end_ns"] for r in records)
    assert set(root) == {
        "trace_id", "span_id", "parent_span_id", "name", "kind", "service", "start_ns",
        "end_ns", "status", "attributes", "events", "links",
    }  # fmt: skip


def test_sb_trace_lists_traces(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    trace_id = write_fixed_trace(path)
    result = sb_trace(str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "TRACE                             ROOT              SPANS   DURATION  ERRORS",
        f"{trace_id}  orders: checkout      4     100 ms  2",
    ]


def test_sb_trace_prints_a_waterfall(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    trace_id = write_fixed_trace(path)
    result = sb_trace(str(path), trace_id, columns=80)
    assert result.returncode == 0, result.stderr
    # 80 columns: a 32-column bar for 100 ms, so each column is 3.125 ms.
    assert result.stdout.splitlines() == [
        f"trace {trace_id}  4 spans  100 ms, 2 with errors",
        "  SERVICE  OPERATION                 |0                         100 ms|",
        "  orders   checkout                  |████████████████████████████████|  100 ms",
        "✗ orders     payment.v1.Payment/Cha~ |   ████████████████             |   50 ms",
        "               ✗ HANDLER CARD_DECLINED: declined",
        "✗ payment      payment.v1.Payment/C~ |      ██████████                |   30 ms",
        "                 ✗ HANDLER CARD_DECLINED: declined",
        "  orders     publish order.placed    |                      ██        | 5.00 ms",
    ]
    assert max(len(line) for line in result.stdout.splitlines()) < 80
    wide = sb_trace(str(path), trace_id, columns=120).stdout.splitlines()
    assert wide[3] == (
        "✗ orders     payment.v1.Payment/Charge   |      " + "█" * 34 + " " * 28 + "|   50 ms"
    )


def test_sb_trace_errors(tmp_path: Path) -> None:
    missing = sb_trace(str(tmp_path / "nope.jsonl"))
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == f"sb-trace: {tmp_path / 'nope.jsonl'}: no such file\n"

    path = tmp_path / "spans.jsonl"
    trace_id = write_fixed_trace(path)
    typo = sb_trace(str(path), trace_id[:12])
    assert typo.returncode == 1
    assert typo.stderr == (
        f"sb-trace: no trace {trace_id[:12]} in {path}; did you mean {trace_id}?\n"
    )
    unknown = sb_trace(str(path), "f" * 32 if not trace_id.startswith("f") else "0" * 32)
    assert unknown.returncode == 1
    assert unknown.stderr.endswith("(run sb-trace FILE to list the traces)\n")

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"trace_id": "ab"}\n')
    bad = sb_trace(str(broken))
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"sb-trace: {broken}:1: not a span record (KeyError:")


def test_ascii_terminals_get_ascii_bars() -> None:
    import io

    from runtime_lib._telemetry.trace_cli import glyphs_for

    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert (glyphs_for(ascii_out).bar, glyphs_for(ascii_out).error) == ("#", "x")
