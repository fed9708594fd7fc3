"""sync: the generated sync client (SyncBridge) vs a plain grpcio sync stub, blocking calls from
this process to servers in their own processes (the sb-gen handler and a plain servicer)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc

from bench.clients import PAYLOAD
from bench.generated import Generated, shared
from bench.procs import rpc_server
from bench.report import Report, Row
from bench.runner import Options, alternate
from bench.stats import percentile, ratio

SB = "sb-gen sync client + handler"
RAW = "grpcio sync stub + servicer"
STREAM_SIZE = 32

Echo = Callable[[int], object]
Stream = Callable[[int], Iterator[Any]]


def _figures(echo: Echo, stream: Stream, calls: int, messages: int) -> dict[str, float]:
    for n in range(200):  # connect, warm caches
        echo(n)
    samples = []
    for n in range(calls):
        start = time.perf_counter_ns()
        echo(n)
        samples.append((time.perf_counter_ns() - start) / 1000)
    start_stream = time.perf_counter()
    received = sum(1 for _ in stream(messages))
    elapsed = time.perf_counter() - start_stream
    if received != messages:
        raise RuntimeError(f"stream delivered {received} of {messages} messages")
    return {
        "p50": percentile(samples, 0.50),
        "p99": percentile(samples, 0.99),
        "msgs/s": received / elapsed,
    }


def _sb_run(gen: Generated, address: str, calls: int, messages: int) -> dict[str, float]:
    import runtime_lib as sb

    pb2 = gen.sb_pb2("bench_rpc")
    with sb.SyncBridge("bench-client") as caller:
        client: Any = caller.client(gen.sb("bench_rpc").BenchSyncClient, address=address)
        return _figures(
            lambda n: client.echo(pb2.EchoRequest(id="req", n=n, payload=PAYLOAD)),
            lambda count: client.stream(pb2.StreamRequest(count=count, size=STREAM_SIZE)),
            calls,
            messages,
        )


def _raw_run(gen: Generated, address: str, calls: int, messages: int) -> dict[str, float]:
    pb2 = gen.raw("bench_rpc_pb2")
    with grpc.insecure_channel(address) as channel:
        stub: Any = gen.raw("bench_rpc_pb2_grpc").BenchStub(channel)
        return _figures(
            lambda n: stub.Echo(pb2.EchoRequest(id="req", n=n, payload=PAYLOAD)),
            lambda count: stub.Stream(pb2.StreamRequest(count=count, size=STREAM_SIZE)),
            calls,
            messages,
        )


def main(options: Options) -> Report:
    calls, messages = (300, 3000) if options.quick else (2000, 20000)
    gen = shared()
    report = Report.of(
        "sync", "Sync client: generated SyncBridge client vs grpcio sync stub", options
    )
    with rpc_server("sb", gen) as sb_server, rpc_server("grpcio", gen) as raw_server:
        subjects: Mapping[str, Callable[[], Mapping[str, float]]] = {
            SB: lambda: _sb_run(gen, sb_server.address, calls, messages),
            RAW: lambda: _raw_run(gen, raw_server.address, calls, messages),
        }
        results = alternate(subjects, options.runs)
    cases = [
        ("p50", f"unary p50 latency ({calls} sequential calls)", "µs"),
        ("p99", f"unary p99 latency ({calls} sequential calls)", "µs"),
        ("msgs/s", f"server stream of {messages} x {STREAM_SIZE} B", "msgs/s"),
    ]
    for key, case, unit in cases:
        r = ratio(results[SB][key], results[RAW][key])
        report.add(Row(case, SB, results[SB][key], unit, f"{r:.2f}x raw", ""))
        report.add(Row(case, RAW, results[RAW][key], unit, "1.00x", ""))
    report.notes.append(
        "Both servers run in their own processes on 127.0.0.1 (bench/rpc_server.py): the sb-gen "
        "handler on a Bridge for the sync client, a plain grpcio servicer for the plain stub. "
        "Subjects alternate each run. The sync client uses default call options (30 s deadline, "
        "request id, contract hash, retry policy, breaker); the plain stub none."
    )
    return report
