"""mtls: the generated client + handler with mutual TLS vs grpc.aio with the same TLS credentials.

Both servers run in their own processes and present the same ``bench-server`` certificate
(``sb-certs`` code, a fresh CA per run of the benchmark) through the same reloading server
credentials; both clients present ``bench-client`` and pin ``bench-server.<trust domain>``.
What differs is the runtime: the bridge's per-call work, including reading the verified caller
from the peer certificate, and what it puts on the wire (a third subject, the grpc.aio stub sending
the same deadline and metadata, measures that part alone).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.clients import AioClient, BenchClient, SbClient
from bench.generated import Generated, shared
from bench.procs import rpc_server
from bench.report import Report, Row, verdict
from bench.rpc import IN_FLIGHT, Workload, ratio_label, subject_runner
from bench.runner import Options, alternate
from bench.stats import Summary, ratio
from runtime_lib._security import certs

SB = "sb-gen client + handler, mTLS"
RAW = "grpc.aio stub + servicer, same mTLS credentials"
LIKE_SB = "experiment: the same grpc.aio stub with a 30 s deadline + the sb-call entry sb-gen sends"
TARGET = 1.05


@contextlib.contextmanager
def bench_certs() -> Iterator[Path]:
    """A directory with a fresh sb-certs CA and ``bench-server`` and ``bench-client`` leaves,
    removed on exit."""
    with tempfile.TemporaryDirectory(prefix="sb-bench-certs-") as tmp:
        cert_dir = Path(tmp)
        certs.init_ca(cert_dir, "bench.example")
        for service in ("bench-server", "bench-client"):
            certs.issue(cert_dir, service)
        yield cert_dir


def measure(gen: Generated, options: Options, cert_dir: Path) -> dict[str, dict[str, Summary]]:
    work = Workload.of(options)
    with (
        rpc_server("sb-tls", gen, str(cert_dir)) as sb_server,
        rpc_server("grpcio-tls", gen, str(cert_dir)) as raw_server,
    ):

        async def sb() -> BenchClient:
            return await SbClient(gen, sb_server.address, certs=cert_dir).start()

        async def raw() -> BenchClient:
            return AioClient(gen, raw_server.address, certs=cert_dir)

        async def like_sb() -> BenchClient:
            return AioClient(gen, raw_server.address, certs=cert_dir, like_sb=True)

        subjects = {
            SB: subject_runner(sb, work),
            RAW: subject_runner(raw, work),
            LIKE_SB: subject_runner(like_sb, work),
        }
        return alternate(subjects, options.runs)


def main(options: Options) -> Report:
    work = Workload.of(options)
    report = Report.of(
        "mtls", "RPC with mutual TLS: generated client + handler vs grpc.aio", options
    )
    with bench_certs() as cert_dir:
        results = measure(shared(), options, cert_dir)
    ours, peer = results[SB], results[RAW]
    cases = [
        ("p50", f"unary p50 latency ({work.sequential} sequential calls)", "µs", False),
        ("calls/s", f"unary throughput, {IN_FLIGHT} in flight", "calls/s", True),
    ]
    for key, case, unit, higher in cases:
        r = ratio(ours[key], peer[key])
        # Both targets as "at most 1.05x the cost": latency ratio, or inverse throughput ratio.
        cost = r if not higher else 1 / r
        target = f"≤ {TARGET:.2f}x the cost: {verdict(cost <= TARGET)}"
        like = ratio(ours[key], results[LIKE_SB][key])
        like_cost = like if not higher else 1 / like
        target += f"; {like_cost:.2f}x the cost of the same wire"
        report.add(Row(case, SB, ours[key], unit, ratio_label(r, higher), target))
        report.add(Row(case, RAW, peer[key], unit, "1.00x", ""))
        e = ratio(results[LIKE_SB][key], peer[key])
        report.add(Row(case, LIKE_SB, results[LIKE_SB][key], unit, ratio_label(e, higher), ""))
    report.notes.append(
        "Servers in their own processes on 127.0.0.1 (bench/rpc_server.py, kinds sb-tls and "
        "grpcio-tls), the client in this process; subjects alternate each run. Certificates: "
        "a fresh sb-certs CA and ECDSA P-256 leaves. The sb-gen client uses default call options "
        "(30 s deadline, request id, retry policy, breaker) and sends its metadata; the grpc.aio "
        "stub sends none. The experiment row sends what an sb-gen call puts on the wire "
        "(the deadline and sb-call with no caller under mTLS) from the plain stub, over the same TLS: "
        "the part of the overhead that is the wire contract, not the runtime's Python code."
    )
    return report
