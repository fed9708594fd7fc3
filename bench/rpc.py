"""rpc: the generated client + handler vs a plain grpc.aio stub + servicer, servers in another process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bench.clients import AioClient, BenchClient, SbClient
from bench.generated import Generated, shared
from bench.measure import latency, stream_rate, throughput
from bench.procs import rpc_server
from bench.report import Report, Row, verdict
from bench.runner import Options, alternate
from bench.stats import Summary, ratio

SB = "sb-gen client + handler"
SB_GRPCLIB = "sb-gen client + handler, transport='grpclib' (grpclib both ways)"
RAW = "grpc.aio stub + servicer"
LIKE_SB = "experiment: grpc.aio stub with a 30 s deadline + the sb-call entry sb-gen sends"
IN_FLIGHT = 64
STREAM_SIZE = 32


@dataclass(frozen=True, slots=True)
class Workload:
    sequential: int
    concurrent: int
    stream: int

    @classmethod
    def of(cls, options: Options) -> Workload:
        return cls(300, 1280, 3000) if options.quick else cls(2000, 6400, 20000)


async def one_run(make: Callable[[], Awaitable[BenchClient]], work: Workload) -> dict[str, float]:
    client = await make()
    try:
        for n in range(200):  # connect, warm caches
            await client.echo(n)
        await client.stream(100, STREAM_SIZE)
        figures = await latency(client, work.sequential)
        figures["calls/s"] = await throughput(client, work.concurrent, IN_FLIGHT)
        figures["msgs/s"] = await stream_rate(
            lambda: client.stream(work.stream, STREAM_SIZE), work.stream
        )
        return figures
    finally:
        await client.close()


def subject_runner(
    make: Callable[[], Awaitable[BenchClient]], work: Workload
) -> Callable[[], Mapping[str, float]]:
    return lambda: asyncio.run(one_run(make, work))


def measure(gen: Generated, options: Options) -> dict[str, dict[str, Summary]]:
    work = Workload.of(options)
    with (
        rpc_server("sb", gen) as sb_server,
        rpc_server("sb-grpclib", gen) as sb_grpclib_server,
        rpc_server("grpcio", gen) as raw_server,
    ):

        async def sb() -> BenchClient:
            return await SbClient(gen, sb_server.address).start()

        async def sb_grpclib() -> BenchClient:
            return await SbClient(gen, sb_grpclib_server.address, transport="grpclib").start()

        async def raw() -> BenchClient:
            return AioClient(gen, raw_server.address)

        async def like_sb() -> BenchClient:
            return AioClient(gen, raw_server.address, like_sb=True)

        subjects = {
            SB: subject_runner(sb, work),
            SB_GRPCLIB: subject_runner(sb_grpclib, work),
            RAW: subject_runner(raw, work),
            LIKE_SB: subject_runner(like_sb, work),
        }
        return alternate(subjects, options.runs)


def ratio_label(r: float, higher: bool) -> str:
    return f"{r:.2f}x raw" + ("" if higher else f" ({(r - 1) * 100:+.0f}%)")


def main(options: Options) -> Report:
    work = Workload.of(options)
    report = Report.of("rpc", "RPC: generated client + handler vs raw grpc.aio", options)
    results = measure(shared(), options)
    ours, peer = results[SB], results[RAW]
    cases = [
        ("p50", f"unary p50 latency ({work.sequential} sequential calls)", "µs", False),
        ("p99", f"unary p99 latency ({work.sequential} sequential calls)", "µs", False),
        ("calls/s", f"unary throughput, {IN_FLIGHT} in flight", "calls/s", True),
        ("msgs/s", f"server stream of {work.stream} x {STREAM_SIZE} B", "msgs/s", True),
    ]
    for key, case, unit, higher in cases:
        r = ratio(ours[key], peer[key])
        like = ratio(ours[key], results[LIKE_SB][key])
        if key == "p50":
            target = (
                f"≤ 1.10x raw: {verdict(r <= 1.10)}; ≤ 1.03x same wire: {verdict(like <= 1.03)}"
            )
        elif key == "calls/s":
            target = f"≥ 0.95x raw: {verdict(r >= 0.95)}"
        elif key == "msgs/s":
            target = f"≥ 0.90x raw: {verdict(r >= 0.90)}"
        else:
            target = ""
        report.add(Row(case, SB, ours[key], unit, ratio_label(r, higher), target))
        report.add(Row(case, RAW, peer[key], unit, "1.00x", ""))
        for other in (SB_GRPCLIB, LIKE_SB):
            e = ratio(results[other][key], peer[key])
            report.add(Row(case, other, results[other][key], unit, ratio_label(e, higher), ""))
    report.notes.append(
        "The servers run in their own processes on 127.0.0.1 (bench/rpc_server.py); the client "
        "is this process. Subjects alternate each run. The sb-gen client uses default call "
        "options (30 s deadline, request id, retry policy, breaker); the grpc.aio stub none. "
        "Replies are built per call for unary, prebuilt for streams. The experiment row sends "
        "what an sb-gen call puts on the wire (the deadline and its sb-call entry) "
        "from a plain stub: the part of the overhead that is the wire contract, not the "
        "runtime's Python code. The grpclib row is a bridge on transport='grpclib' calling one: "
        "grpclib's client and its server (bench/rpc_server.py sb-grpclib)."
    )
    return report
