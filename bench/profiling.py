"""profile: cProfile of the hot paths, written to bench/results/profile.md.

- the unary RPC path, client and server in one process (so one profile sees both sides), for the
  generated client + handler and, as the reference, a grpc.aio stub + servicer;
- the event dataclass round trip;
- sb-gen's pipeline on the codegen corpus;
- bridge.publish with 256 concurrent publishers (event loop thread only).
"""

from __future__ import annotations

import asyncio
import cProfile
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import grpc

import runtime_lib as sb
from bench.clients import AioClient, SbClient
from bench.corpus import write_corpus
from bench.cprofile_table import own_seconds, table, total_seconds, waiting_seconds
from bench.dataclass_bench import sample_event
from bench.generated import Generated, shared
from bench.outbox import publish_rate
from bench.report import Report, Row
from bench.rpc_server import aio_servicer, sb_handler
from bench.runner import Options, alternate

OURS = "sb-gen client + handler"
RAW = "grpc.aio stub + servicer"


def _runtime_only(where: str) -> bool:
    return any(part in where for part in ("rpc/", "runtime_lib/", "telemetry/"))


def _ours_or_runtime(where: str) -> bool:
    return any(part in where for part in ("rpc/", "runtime_lib/", "bench_sbgen/", "_sb.py"))


async def _unary_calls(
    gen: Generated, kind: str, calls: int, profiler: cProfile.Profile | None
) -> float:
    """Wall µs per unary call, server and client in this process; profiled when asked."""
    if kind == OURS:
        server = sb.Bridge("bench-profile-server", rpc=sb.RpcConfig(drain_timeout=1.0))
        server.serve(sb_handler(gen))
        await server.start()
        client: SbClient | AioClient = await SbClient(gen, server.address).start()
        stop: Callable[[], Any] = server.stop
    else:
        raw_server = grpc.aio.server()
        gen.raw("bench_rpc_pb2_grpc").add_BenchServicer_to_server(aio_servicer(gen), raw_server)
        port = raw_server.add_insecure_port("127.0.0.1:0")
        await raw_server.start()
        client = AioClient(gen, f"127.0.0.1:{port}")

        async def stop_raw() -> None:
            await raw_server.stop(0.5)

        stop = stop_raw
    try:
        for n in range(200):
            await client.echo(n)
        if profiler is not None:
            profiler.enable()
        start = time.perf_counter()
        for n in range(calls):
            await client.echo(n)
        elapsed = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
        return elapsed / calls * 1e6
    finally:
        await client.close()
        await stop()


def rpc_section(gen: Generated, calls: int, runs: int, report: Report) -> list[str]:
    def measure(kind: str) -> Callable[[], Mapping[str, float]]:
        return lambda: {"us": asyncio.run(_unary_calls(gen, kind, calls, None))}

    summaries = alternate({kind: measure(kind) for kind in (OURS, RAW)}, runs)
    case = "unary call, client + server in one process (wall)"
    for kind in (OURS, RAW):
        report.add(Row(case, kind, summaries[kind]["us"], "µs/call"))
    lines = ["## Unary RPC: client and server in one process", ""]
    totals = {}
    profiles = {}
    for kind in (OURS, RAW):
        profiler = cProfile.Profile()
        asyncio.run(_unary_calls(gen, kind, calls, profiler))
        totals[kind] = (total_seconds(profiler) - waiting_seconds(profiler)) / calls * 1e6
        profiles[kind] = profiler
    lines.append(
        f"Profiled time of the event-loop thread per call, epoll waits excluded: {OURS} "
        f"{totals[OURS]:.0f} µs, {RAW} {totals[RAW]:.0f} µs (cProfile inflates both; the "
        "difference is the runtime's own cost, client and server together)."
    )
    runtime_own = own_seconds(profiles[OURS], _runtime_only) / calls * 1e6
    lines.append(
        f"Own time of runtime_lib's functions alone: {runtime_own:.0f} µs per call (profiled); "
        "the rest of the difference is the event-loop work they cause (more tasks, futures "
        "and callbacks per call, visible in the asyncio rows below)."
    )
    lines += ["", *table(profiles[OURS], calls, f"{OURS}: top own time (op = 1 call)", top=20)]
    lines += [
        "",
        *table(
            profiles[OURS],
            calls,
            "runtime_lib: top own time (op = 1 call)",
            top=12,
            keep=_runtime_only,
        ),
    ]
    lines += [
        "",
        *table(
            profiles[OURS],
            calls,
            "runtime_lib + generated code: cumulative (op = 1 call)",
            top=25,
            sort="total",
            keep=_ours_or_runtime,
        ),
    ]
    lines += ["", *table(profiles[RAW], calls, f"{RAW}: top own time (op = 1 call)", top=12)]
    return lines


def dataclass_section(gen: Generated, iterations: int) -> list[str]:
    event = sample_event(gen.sb("bench_event"))
    cls, proto = type(event), event.PROTO
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        cls.from_proto(proto.FromString(event.to_proto().SerializeToString()))
    profiler.disable()
    return [
        "## Event dataclass round trip",
        "",
        *table(profiler, iterations, "to_proto + serialize + parse + from_proto (op = 1 trip)"),
    ]


def codegen_section(files: int) -> list[str]:
    from generator.pipeline import build_package

    with tempfile.TemporaryDirectory(prefix="bench-profile-corpus-") as tmp:
        root = Path(tmp)
        write_corpus(root, files)
        profiler = cProfile.Profile()
        profiler.enable()
        build_package([root], [root])
        profiler.disable()
    return [
        f"## sb-gen pipeline on the {files}-file corpus (build_package, in process)",
        "",
        *table(
            profiler,
            1,
            "cumulative time per run (op = the whole corpus)",
            top=25,
            sort="total",
            keep=lambda where: (
                "generator/" in where or "mypy_protobuf" in where or "libcst" in where
            ),
        ),
    ]


def publish_section(gen: Generated, total: int) -> list[str]:
    module = gen.sb("bench_event")
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory(prefix="bench-profile-outbox-") as tmp:

        async def run() -> float:
            profiler.enable()
            try:
                return await publish_rate(module, "memory", Path(tmp), total)
            finally:
                profiler.disable()

        rate = asyncio.run(run())
    return [
        "## bridge.publish, 256 concurrent publishers (memory bus; event-loop thread only)",
        "",
        f"{total} publishes, {rate:,.0f}/s under the profiler. The SQLite writer thread is not "
        "in this profile.",
        "",
        *table(profiler, total, "top own time (op = 1 publish)", top=20),
    ]


def _micro(operation: Callable[[], object], iterations: int = 20_000) -> float:
    """µs per call of ``operation``."""
    start = time.perf_counter()
    for _ in range(iterations):
        operation()
    return (time.perf_counter() - start) / iterations * 1e6


def micro_section() -> list[str]:
    """Small per-call costs on the hot paths, measured without the profiler."""
    import uuid

    from runtime_lib._ids import new_event_id
    from runtime_lib._rpc.breaker import BreakerPolicy, CircuitBreaker

    lines = [
        "## Per-call costs on the hot paths (no profiler)",
        "",
        "| operation | µs/call |",
        "|---|---:|",
    ]
    for window in (1_000, 10_000, 50_000):
        breaker = CircuitBreaker(BreakerPolicy())
        for _ in range(window):
            breaker.record(True)
        cost = _micro(partial(breaker.record, True), 2_000)
        lines.append(
            f"| `CircuitBreaker.record` with {window:,} outcomes in its window | {cost:.2f} |"
        )
    lines.append(
        f"| `str(uuid.uuid4())` (request id per call) | {_micro(lambda: str(uuid.uuid4())):.2f} |"
    )
    lines.append(f"| `new_event_id()` (UUIDv7 per publish) | {_micro(new_event_id):.2f} |")
    return lines


def main(options: Options) -> Report:
    calls = 300 if options.quick else 3000
    report = Report.of("profile", "Profiles of the hot paths (cProfile)", options)
    gen = shared()
    report.notes += rpc_section(gen, calls, options.runs, report)
    report.notes += ["", *dataclass_section(gen, 2_000 if options.quick else 20_000)]
    report.notes += ["", *codegen_section(20 if options.quick else 100)]
    report.notes += ["", *publish_section(gen, 256 * (4 if options.quick else 40))]
    report.notes += ["", *micro_section()]
    ratio = report.rows[0].summary.median / report.rows[1].summary.median
    report.notes.insert(0, f"In-process unary call: sb-gen costs {ratio:.2f}x raw grpc.aio.\n")
    return report
