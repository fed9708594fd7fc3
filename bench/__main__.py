"""``python -m bench <name> [--runs N] [--quick]``: run one benchmark, or ``all``."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from bench.report import Report
from bench.runner import Options

BENCHMARKS: dict[str, tuple[str, str]] = {
    "codegen": ("bench.codegen", "sb-gen vs protoc vs protoc + mypy-protobuf on 100+ .proto files"),
    "rpc": ("bench.rpc", "generated client + handler vs raw grpc.aio: latency, throughput, stream"),
    "sync": ("bench.sync_bench", "generated sync client (SyncBridge) vs a grpcio sync stub"),
    "mtls": ("bench.mtls", "the same over mutual TLS vs grpc.aio with the same TLS credentials"),
    "streaming": ("bench.streaming", "server streaming: generated vs grpc.aio vs grpclib, and why"),
    "dataclass": ("bench.dataclass_bench", "event dataclass to_proto/from_proto vs raw protobuf"),
    "outbox": ("bench.outbox", "durable publishes/s with group commit vs a commit per row; drain"),
    "events": ("bench.events", "publish -> handler latency and delivered events/s on JetStream"),
    "jobs": ("bench.jobs", "1,000 jobs due at once: lag p50/p99 and fired/s vs APScheduler"),
    "telemetry": ("bench.telemetry_bench", "cost per call of telemetry off, on, metrics only"),
    "workflows": ("bench.workflows", "per-step overhead of a workflow run vs direct calls; runs/s"),
    "http": ("bench.http", "generated HTTP gateway vs a hand-written FastAPI route: requests/s"),
    "profile": ("bench.profiling", "cProfile of the unary RPC path and the dataclass round trip"),
    # Last: it needs valgrind, and runs longest (callgrind runs Python ~50x slower).
    "instructions": (
        "bench.instructions",
        "instructions per unary call (callgrind), each side: generated vs grpc.aio, plain + mTLS",
    ),
}


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<12} {text}" for name, (_, text) in BENCHMARKS.items())
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of sb-gen and runtime_lib against their peers, side by side. "
        "Each prints a table and writes it to bench/results/<name>.md.",
        epilog=f"benchmarks:\n{listing}\n  {'all':<12} every benchmark above, in order",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", choices=[*BENCHMARKS, "all"], metavar="NAME")
    parser.add_argument("--runs", type=int, default=5, help="runs per subject (default 5)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (smoke tests)")
    return parser


def run(name: str, options: Options) -> Report:
    module = importlib.import_module(BENCHMARKS[name][0])
    report: Report = module.main(options)
    report.write()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    options = Options(runs=args.runs, quick=args.quick)
    for name in BENCHMARKS if args.name == "all" else [args.name]:
        run(name, options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
