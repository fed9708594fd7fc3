"""streaming: server-streaming msgs/s of sb-gen vs grpc.aio vs grpclib, and experiments showing why.

Each subject receives one server stream per run; besides msgs/s it records the CPU time per
message spent by the client (this process) and by the server process, so the table shows which
side is the bottleneck. A cProfile of the grpc.aio client counts event-loop iterations per message.
"""

from __future__ import annotations

import asyncio
import cProfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bench.clients import AioClient, BenchClient, GrpclibClient, SbClient, SyncClient
from bench.cprofile_table import table
from bench.generated import Generated, shared
from bench.procs import Server, rpc_server
from bench.report import Report, Row, verdict
from bench.runner import Options, alternate
from bench.stats import ratio

SIZE = 32
CHUNK = 64
RAW = "grpc.aio client + grpc.aio server"
SB = "sb-gen client + handler (grpc.aio)"
GRPCLIB = "grpclib client + server"

Receive = Callable[[BenchClient, int], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Subject:
    server: str
    client: str
    receive: Receive


def _plain(client: BenchClient, count: int) -> Awaitable[int]:
    return client.stream(count, SIZE)


def _read_loop(client: BenchClient, count: int) -> Awaitable[int]:
    assert isinstance(client, AioClient)
    return client.stream_read(count, SIZE)


def _chunked(client: BenchClient, count: int) -> Awaitable[int]:
    return client.stream_chunks(count, SIZE, CHUNK)


SUBJECTS: dict[str, Subject] = {
    SB: Subject("sb", "sb", _plain),
    RAW: Subject("grpcio", "aio", _plain),
    GRPCLIB: Subject("grpclib", "grpclib", _plain),
    "experiment: grpc.aio, call.read() loop": Subject("grpcio", "aio", _read_loop),
    "experiment: grpc.aio client + grpcio sync server": Subject("grpcio-sync", "aio", _plain),
    "experiment: grpcio sync client (thread) + grpc.aio server": Subject("grpcio", "sync", _plain),
    "experiment: grpcio sync client (thread) + sync server": Subject("grpcio-sync", "sync", _plain),
    f"experiment: grpc.aio, {CHUNK} msgs per `repeated` chunk": Subject("grpcio", "aio", _chunked),
    f"experiment: sb-gen, {CHUNK} msgs per `repeated` chunk": Subject("sb", "sb", _chunked),
}


async def _client(kind: str, gen: Generated, address: str) -> BenchClient:
    if kind == "sb":
        return await SbClient(gen, address).start()
    if kind == "aio":
        return AioClient(gen, address)
    if kind == "sync":
        return SyncClient(gen, address)
    return GrpclibClient(gen, address)


async def one_stream(
    subject: Subject, gen: Generated, server: Server, count: int
) -> dict[str, float]:
    client = await _client(subject.client, gen, server.address)
    try:
        await subject.receive(client, CHUNK * 4)  # connect and warm up
        server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
        start = time.perf_counter()
        received = await subject.receive(client, count)
        elapsed = time.perf_counter() - start
        client_used, server_used = (
            time.process_time() - client_cpu,
            server.cpu_seconds() - server_cpu,
        )
    finally:
        await client.close()
    if received != count:
        raise RuntimeError(f"stream delivered {received} of {count} messages")
    return {
        "msgs/s": count / elapsed,
        "client µs/msg": client_used / count * 1e6,
        "server µs/msg": server_used / count * 1e6,
    }


def profile_aio_client(gen: Generated, server: Server, count: int) -> list[str]:
    """cProfile one grpc.aio stream on the client: loop iterations and top costs per message."""
    profiler = cProfile.Profile()

    async def receive() -> None:
        client = AioClient(gen, server.address)
        try:
            await client.stream(CHUNK, SIZE)
            profiler.enable()
            await client.stream(count, SIZE)
            profiler.disable()
        finally:
            await client.close()

    asyncio.run(receive())
    title = f"function (cProfile of the grpc.aio client, {count} messages; op = 1 message)"
    return table(profiler, count, title, top=12)


def main(options: Options) -> Report:
    count = CHUNK * (32 if options.quick else 320)  # whole chunks
    report = Report(
        "streaming",
        "Server streaming: sb-gen vs grpc.aio vs grpclib, and why grpc.aio streams slowly",
        f"python -m bench streaming --runs {options.runs}" + (" --quick" if options.quick else ""),
    )
    gen = shared()
    with (
        rpc_server("sb", gen) as sb_server,
        rpc_server("grpcio", gen) as aio_server,
        rpc_server("grpcio-sync", gen) as sync_server,
        rpc_server("grpclib", gen) as grpclib_server,
    ):
        servers = {
            "sb": sb_server,
            "grpcio": aio_server,
            "grpcio-sync": sync_server,
            "grpclib": grpclib_server,
        }

        def measure(subject: Subject) -> Callable[[], Mapping[str, float]]:
            server = servers[subject.server]
            return lambda: asyncio.run(one_stream(subject, gen, server, count))

        results = alternate({n: measure(s) for n, s in SUBJECTS.items()}, options.runs)
        profile = profile_aio_client(gen, aio_server, count)
    peer = results[RAW]
    for name in SUBJECTS:
        figures = results[name]
        r = ratio(figures["msgs/s"], peer["msgs/s"])
        target = f"≥ 0.90x grpc.aio: {verdict(r >= 0.90)}" if name == SB else ""
        case = f"stream of {count} x {SIZE} B"
        report.add(Row(case, name, figures["msgs/s"], "msgs/s", f"{r:.2f}x grpc.aio", target))
    for name in SUBJECTS:
        figures = results[name]
        for key in ("client µs/msg", "server µs/msg"):
            report.add(Row(f"CPU per message, {key.split()[0]}", name, figures[key], "µs"))
    report.notes += [
        "Servers run in their own processes on 127.0.0.1 (bench/rpc_server.py); CPU per message "
        "is user + system time of the client process (time.process_time, all threads) and of the "
        "server process (/proc/<pid>/stat) during the stream, divided by the messages received. "
        "Chunked experiments count the messages inside the chunks.",
        "",
        "## Where the grpc.aio client spends its time",
        "",
        *profile,
    ]
    return report
