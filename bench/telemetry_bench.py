"""telemetry: the cost per call of telemetry off, on with every trace, and on with metrics only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import runtime_lib as sb
from bench.generated import shared
from bench.report import Report, Row
from bench.runner import Options, alternate
from bench.stats import ratio

OFF = "telemetry off (default)"
SUBJECTS: dict[str, Callable[[], sb.TelemetryConfig | None]] = {
    OFF: lambda: None,
    "on, every trace sampled (memory exporter)": lambda: sb.TelemetryConfig(exporter="memory"),
    "on, sampling_ratio=0 (metrics only)": lambda: sb.TelemetryConfig(
        exporter="memory", sampling_ratio=0.0
    ),
}
CASE = "unary call, in-process transport"


def handler(module: ModuleType) -> Any:
    pb = shared().sb_pb2("bench_rpc")

    class Bench(module.BenchHandler):  # type: ignore[misc, name-defined]
        async def echo(self, request: Any, ctx: sb.CallContext) -> Any:
            return pb.EchoReply(id=request.id, n=request.n)

        async def stream(self, request: Any, ctx: sb.CallContext) -> Any:
            raise NotImplementedError

        async def stream_chunks(self, request: Any, ctx: sb.CallContext) -> Any:
            raise NotImplementedError

    return Bench()


async def per_call_us(telemetry: sb.TelemetryConfig | None, calls: int) -> float:
    """Microseconds per unary call, client and server span (when on) included."""
    module = shared().sb("bench_rpc")
    request = shared().sb_pb2("bench_rpc").EchoRequest(id="x", n=1)
    bridge = sb.Bridge("bench", telemetry=telemetry)
    bridge.serve(handler(module))
    async with bridge:
        client = bridge.client(module.BenchClient, service="bench")
        for _ in range(calls // 10):  # warm up
            await client.echo(request, transport="inproc")
        start = time.perf_counter()
        for _ in range(calls):
            await client.echo(request, transport="inproc")
        elapsed = time.perf_counter() - start
    bridge.telemetry.shutdown()
    return elapsed / calls * 1e6


def main(options: Options) -> Report:
    calls = 2_000 if options.quick else 20_000
    report = Report.of("telemetry", "Telemetry overhead per call: off vs on", options)

    def measure(make: Callable[[], sb.TelemetryConfig | None]) -> Callable[[], Mapping[str, float]]:
        return lambda: {CASE: asyncio.run(per_call_us(make(), calls))}

    results = alternate({name: measure(make) for name, make in SUBJECTS.items()}, options.runs)
    off = results[OFF][CASE]
    for name in SUBJECTS:
        summary = results[name][CASE]
        added = summary.median - off.median
        note = "" if name == OFF else f"{ratio(summary, off):.2f}x off (+{added:.0f} µs)"
        report.add(Row(CASE, name, summary, "µs/call", note, ""))
    report.notes.append(
        f"{calls} sequential unary calls per run through one bridge that serves and calls itself "
        "over the in-process transport, so the network stays out of the difference; with "
        "telemetry on, each call makes a client and a server span and records two duration "
        "histograms. Off, only the OpenTelemetry API's no-op objects are touched."
    )
    return report
