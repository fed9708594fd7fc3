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
from bench.stats import Summary, ratio

SIZE = 32
CHUNK = 64
RAW = "grpc.aio client + grpc.aio server"
SB = "sb-gen client + handler (grpc.aio)"
GRPCLIB = "grpclib client + server"
SB_GRPCLIB = "sb-gen client (grpclib transport) + handler (grpc.aio)"
SB_GRPCLIB_PEER = "sb-gen client (grpclib transport) + grpclib server"
SB_GRPCLIB_BOTH = "sb-gen client + handler, transport='grpclib' (grpclib both ways)"

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
    SB_GRPCLIB: Subject("sb", "sb-grpclib", _plain),
    SB_GRPCLIB_PEER: Subject("grpclib", "sb-grpclib", _plain),
    SB_GRPCLIB_BOTH: Subject("sb-grpclib", "sb-grpclib", _plain),
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
    if kind == "sb-grpclib":
        return await SbClient(gen, address, transport="grpclib").start()
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
    report = Report.of(
        "streaming",
        "Server streaming: sb-gen vs grpc.aio vs grpclib, and why grpc.aio streams slowly",
        options,
    )
    gen = shared()
    with (
        rpc_server("sb", gen) as sb_server,
        rpc_server("grpcio", gen) as aio_server,
        rpc_server("grpcio-sync", gen) as sync_server,
        rpc_server("grpclib", gen) as grpclib_server,
        rpc_server("sb-grpclib", gen) as sb_grpclib_server,
    ):
        servers = {
            "sb": sb_server,
            "grpcio": aio_server,
            "grpcio-sync": sync_server,
            "grpclib": grpclib_server,
            "sb-grpclib": sb_grpclib_server,
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
        if name == SB:
            target = f"≥ 0.90x grpc.aio: {verdict(r >= 0.90)}"
        elif name in (SB_GRPCLIB, SB_GRPCLIB_PEER, SB_GRPCLIB_BOTH):
            target = f"≥ 2.5x grpc.aio: {verdict(r >= 2.5)}"
        else:
            target = ""
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
        "",
        *findings(results),
    ]
    return report


def findings(results: Mapping[str, Mapping[str, Summary]]) -> list[str]:
    """The conclusions, with this run's medians filled in."""

    def rate(name: str) -> str:
        return f"{results[name]['msgs/s'].median:,.0f} msgs/s"

    def cpu(name: str) -> str:
        figures = results[name]
        client, server = figures["client µs/msg"].median, figures["server µs/msg"].median
        return f"{client:.1f} µs client + {server:.1f} µs server"

    def delta(side: str) -> str:
        key = f"{side} µs/msg"
        return f"{results[SB][key].median - results[RAW][key].median:+.1f}"

    sync_both = "experiment: grpcio sync client (thread) + sync server"
    sync_client = "experiment: grpcio sync client (thread) + grpc.aio server"
    sync_server = "experiment: grpc.aio client + grpcio sync server"
    chunk_raw = f"experiment: grpc.aio, {CHUNK} msgs per `repeated` chunk"
    chunk_sb = f"experiment: sb-gen, {CHUNK} msgs per `repeated` chunk"
    return [
        "## Findings",
        "",
        f"- **The cost is per message, on both sides.** grpc.aio streams {rate(RAW)} for "
        f"{cpu(RAW)} of CPU per message; grpclib streams {rate(GRPCLIB)} for {cpu(GRPCLIB)}. "
        "Every grpc.aio message is its own gRPC-core receive (or send) operation: the core "
        "completes it on its poller thread, hands it to the asyncio loop through a wake-up fd, "
        "and the loop resumes the reading coroutine. The client profile above shows two "
        "event-loop iterations and two epoll waits per message, a new future per message, and "
        "`_call.py(_read)` (the Cython receive op) as the largest own cost. grpclib parses many "
        "HTTP/2 DATA frames per socket read (h2) and queues them, so most messages cost no loop "
        "iteration at all.",
        f"- **It is not asyncio's fault, so the sync stack does not help.** grpcio's thread-based "
        f"stack on both sides streams {rate(sync_both)} ({cpu(sync_both)}); a sync client in a "
        f"thread against the aio server {rate(sync_client)}; an aio client against the sync "
        f"server {rate(sync_server)}. All within the run-to-run noise of grpc.aio: the per-message "
        "core operation and the Python/Cython crossing cost the same in both stacks.",
        f"- **Batching is the lever.** Sending {CHUNK} messages per gRPC message (a `repeated` "
        f"chunk) streams {rate(chunk_raw)} with grpc.aio and {rate(chunk_sb)} through the "
        f"generated client and handler ({cpu(chunk_sb)} per item): the per-message cost is "
        "paid once per chunk.",
        f"- **sb-gen's own layer** streams {rate(SB)} ({cpu(SB)}) against grpc.aio's "
        f"{rate(RAW)} ({cpu(RAW)}): a difference of {delta('client')} µs (client) and "
        f"{delta('server')} µs (server) per message, inside the run-to-run ranges above. "
        "Structurally the runtime adds async-generator hops per message: on the server the "
        "handler's generator is wrapped by `_guard_stream`, `Dispatcher.server_stream` and the "
        "gRPC method handler; on the client `RpcInvoker._stream` wraps `call.read()`.",
        "- CPU per message of the chunked rows is at the resolution of /proc (one 10 ms tick "
        "over the whole stream).",
        "",
        "What the runtime could do, cheapest first:",
        "",
        "1. Offer batching without changing the protocol's meaning: a handler option (or a "
        "generated helper for `stream Chunk` methods whose message is one `repeated` field) that "
        "packs the items a handler yields into chunks (flush at N items, N bytes or after a "
        "few ms) and a client iterator that unpacks them. The wire stays standard gRPC; other "
        "languages see an ordinary `repeated` field. Expected: the chunk rows above, ~40x.",
        "2. Flatten the server-streaming path: iterate the handler's generator directly in the "
        "gRPC method handler (admission slot and error mapping around one `async for`), saving "
        "the extra async-generator hops per message.",
        "3. Not worth it: grpcio's sync stack in a thread (no gain, measured above).",
        f'- **The grpclib transport** (`RpcConfig(transport="grpclib")`) streams {rate(SB_GRPCLIB)} '
        f"({cpu(SB_GRPCLIB)}) from the grpc.aio-served handler and {rate(SB_GRPCLIB_PEER)} "
        f"({cpu(SB_GRPCLIB_PEER)}) from a grpclib server: against a grpc.aio server the "
        "server's per-message cost sets the pace, and grpc.aio sends each message in its own "
        "write, so the client reads (and wakes) once per message instead of batching frames.",
    ]
