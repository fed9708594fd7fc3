"""instructions: instructions per unary call (callgrind), generated client and server vs grpc.aio.

Wall-clock ratios of unary calls move ±10 % between runs on a loaded 2-core machine, more than
the gaps the targets are about; medians of instruction counts repeat within ~1 %. Each side is counted in
its own process: the server (grpc.aio servicer or sb-gen handler on a bridge) under callgrind
called by each client from this process, and each client under callgrind calling a grpc.aio
servicer that runs normally. Plain and over mutual TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import callgrind
from bench.callgrind_client import WARM_UP, count_calls, run_clients
from bench.clients import UNARY_CLIENTS, unary_client
from bench.generated import Generated, shared
from bench.mtls import bench_certs
from bench.procs import Server, rpc_server
from bench.report import Report, Row, verdict
from bench.runner import Options, alternate
from bench.stats import Summary, ratio

CLIENTS = {
    "stub": "grpc.aio stub",
    "same-wire": "grpc.aio stub sending sb-gen's deadline + metadata",
    "sb": "sb-gen client",
}
SERVERS = {"grpcio": "grpc.aio servicer", "sb": "sb-gen handler"}
RAW_TARGET, SAME_WIRE_TARGET, MTLS_TARGET = 1.10, 1.03, 1.05


def calls_of(options: Options) -> int:
    """Calls counted per subject and run: callgrind runs Python ~50x slower."""
    return 200 if options.quick else 1000


@dataclass(frozen=True, slots=True)
class Security:
    name: str
    certs: Path | None

    def kind(self, server: str) -> str:
        """The ``bench.rpc_server`` kind of ``grpcio`` or ``sb`` with this security."""
        return server if self.certs is None else f"{server}-tls"

    def extra(self) -> tuple[str, ...]:
        return () if self.certs is None else (str(self.certs),)


def per_call(counts: Mapping[str, int], calls: int) -> dict[str, float]:
    """Thousands of instructions per call, per client kind."""
    return {kind: n / calls / 1000 for kind, n in counts.items()}


def server_subject(
    server: Server, out: Path, gen: Generated, security: Security, calls: int
) -> Callable[[], Mapping[str, float]]:
    """One run: each client kind's calls counted in ``server``'s process."""
    counter = callgrind.Counter(server.pid, out)

    async def run() -> dict[str, float]:
        counts = {}
        for kind in UNARY_CLIENTS:
            client = await unary_client(kind, gen, server.address, security.certs)
            try:
                counts[kind] = await count_calls(client, counter, calls)
            finally:
                await client.close()
        return per_call(counts, calls)

    return lambda: asyncio.run(run())


def client_subject(
    server: Server, out: Path, gen: Generated, security: Security, calls: int
) -> Callable[[], Mapping[str, float]]:
    """One run: each client kind's calls counted in one client process under callgrind."""
    return lambda: per_call(
        run_clients(out, gen, server.address, calls, security.certs, UNARY_CLIENTS), calls
    )


def measure(
    gen: Generated, options: Options, securities: list[Security], work: Path
) -> dict[str, dict[str, Summary]]:
    """``"<side> <server kind or 'client'> <security>"`` -> client kind -> k instructions/call."""
    calls = calls_of(options)
    subjects: dict[str, Callable[[], Mapping[str, float]]] = {}
    with contextlib.ExitStack() as stack:
        for security in securities:
            for server in SERVERS:
                out = work / f"{security.kind(server)}.out"
                wrapped = rpc_server(
                    security.kind(server),
                    gen,
                    *security.extra(),
                    wrapper=callgrind.wrapper(out),
                )
                running = stack.enter_context(wrapped)
                subjects[f"server {server} {security.name}"] = server_subject(
                    running, out, gen, security, calls
                )
            peer = stack.enter_context(rpc_server(security.kind("grpcio"), gen, *security.extra()))
            out = work / f"client-{security.name}.out"
            subjects[f"client {security.name}"] = client_subject(peer, out, gen, security, calls)
        return alternate(subjects, options.runs)


def total(a: Summary, b: Summary) -> Summary:
    """Client + server of the same rounds."""
    return Summary.of([x + y for x, y in zip(a.values, b.values, strict=True)])


def add_rows(report: Report, security: Security, results: dict[str, dict[str, Summary]]) -> None:
    name = security.name
    servers = {server: results[f"server {server} {name}"] for server in SERVERS}
    clients = results[f"client {name}"]
    sides = {
        f"server process, {name}: k instructions per call": {
            f"{SERVERS[server]}, called by the {CLIENTS[kind]}": servers[server][kind]
            for server in SERVERS
            for kind in UNARY_CLIENTS
        },
        f"client process, {name}, calling a grpc.aio servicer: k instructions per call": {
            CLIENTS[kind]: clients[kind] for kind in UNARY_CLIENTS
        },
        f"client + server, {name}: k instructions per call": {
            f"{CLIENTS[kind]} + {SERVERS[server]}": total(clients[kind], servers[server][kind])
            for kind, server in (("stub", "grpcio"), ("same-wire", "grpcio"), ("sb", "sb"))
        },
    }
    for case, rows in sides.items():
        raw, same_wire, *_ = rows.values()
        ours = list(rows.values())[-1]
        for subject, summary in rows.items():
            r = ratio(summary, raw)
            label = f"{r:.2f}x raw"
            target = ""
            if summary is ours:
                same = ratio(summary, same_wire)
                label += f"; {same:.2f}x same wire"
                target = targets(security, r, same)
            report.add(Row(case, subject, summary, "k", label, target))


def targets(security: Security, raw: float, same_wire: float) -> str:
    if security.certs is not None:
        return f"≤ {MTLS_TARGET:.2f}x raw: {verdict(raw <= MTLS_TARGET)}"
    return (
        f"≤ {RAW_TARGET:.2f}x raw: {verdict(raw <= RAW_TARGET)}; "
        f"≤ {SAME_WIRE_TARGET:.2f}x same wire: {verdict(same_wire <= SAME_WIRE_TARGET)}"
    )


NOTE = (
    "Method: valgrind's callgrind counts the instructions a process executes. Each process "
    "starts with instrumentation off (`--instr-atstart=no`); after {warm_up} warm-up calls "
    "`callgrind_control` switches it on for {calls} sequential calls, off, and dumps: the "
    "figure is that dump's total over the calls, less the total of an empty stretch counted "
    "just before (the cost of switching). Servers are counted while this process calls them, clients "
    "in a process of their own (bench/callgrind_client.py) calling a grpc.aio servicer that "
    "runs without valgrind. Callgrind counts every thread of the process, so gRPC core's "
    "threads (the completion-queue poller that wakes the asyncio loop, timers, executor) are "
    "in the figures: with `--separate-threads=yes`, ~15 % of the plain stub's client count "
    "(~43k of ~280k per call) is in threads other than the loop's. It does not see time: waiting on the network, on the other process or on "
    "another thread is zero, and neither CPU caches nor frequency change the counts. "
    "Instructions are not CPU time (one syscall is a few instructions here and microseconds in "
    "the kernel, unseen), so the ratios say how much work each side does in user space, "
    "repeatably; wall-clock latency is `python -m bench rpc`. 'raw' is the first row of its "
    "case (the grpc.aio stub and servicer, the same TLS credentials under mTLS), 'same wire' the "
    "second (the plain stub sending sb-gen's 30 s deadline and its one metadata entry, "
    "sb-call: budget, contract, request id, and the caller except under mTLS). Targets: issue 12 "
    "(≤ 1.10x raw, ≤ 1.03x same wire), issue 13 (mTLS ≤ 1.05x raw)."
)


def main(options: Options) -> Report:
    callgrind.require()
    report = Report.of(
        "instructions",
        "Instructions per unary call (callgrind): generated client and server vs grpc.aio",
        options,
    )
    with bench_certs() as cert_dir, tempfile.TemporaryDirectory(prefix="sb-callgrind-") as tmp:
        securities = [Security("plain", None), Security("mTLS", cert_dir)]
        results = measure(shared(), options, securities, Path(tmp))
    for security in securities:
        add_rows(report, security, results)
    report.notes.append(NOTE.format(warm_up=WARM_UP, calls=calls_of(options)))
    return report
