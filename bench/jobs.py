"""jobs: many jobs due at the same second: lag from scheduled time to start, and fired jobs/s.

Ours: one bridge on a real nats-server with N interval jobs, all due at the same 5 s boundary;
each firing takes its lease by compare-and-set on JetStream KV (the cost of exactly-once across
instances). Peer: APScheduler 3's AsyncIOScheduler with N date jobs at that same instant, in
memory, one process, no coordination.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

import runtime_lib as sb
from bench.nats import nats_server
from bench.outbox import Scratch
from bench.report import Report, Row
from bench.runner import Options, alternate
from bench.stats import percentile, ratio

OURS = "bridge.job (leases on JetStream KV)"
PEER = "APScheduler AsyncIOScheduler (memory)"
PERIOD_S = 5


class Starts:
    """The lag of each job start; set ``done`` once ``expect`` jobs started."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.lags: list[float] = []
        self.scheduled: list[float] = []
        self.last = 0.0
        self.done = asyncio.Event()

    def started(self, scheduled: float) -> None:
        now = time.time()
        self.lags.append((now - scheduled) * 1000)
        self.scheduled.append(scheduled)
        self.last = now
        if len(self.lags) >= self.expect:
            self.done.set()

    def figures(self) -> dict[str, float]:
        span = self.last - min(self.scheduled)
        return {
            "p50": percentile(self.lags, 0.5),
            "p99": percentile(self.lags, 0.99),
            "rate": self.expect / span if span > 0 else float("inf"),
        }


async def ours(url: str, data_dir: Path, n: int) -> dict[str, float]:
    starts = Starts(n)
    bridge = sb.Bridge(f"bench-jobs-{uuid.uuid4().hex[:8]}", data_dir=data_dir, events=url)

    async def handler(ctx: sb.JobContext) -> None:
        starts.started(ctx.scheduled_at.timestamp())

    for i in range(n):
        bridge.jobs.add(f"job-{i}", handler, interval=f"{PERIOD_S}s")
    async with bridge:
        await asyncio.wait_for(starts.done.wait(), 120)
    return starts.figures()


async def peer(n: int) -> dict[str, float]:
    starts = Starts(n)
    # The next 5 s boundary at least 1 s away, as ours fires.
    at = (int(time.time()) // PERIOD_S + 1) * PERIOD_S
    if at - time.time() < 1:
        at += PERIOD_S
    scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())

    async def handler() -> None:
        starts.started(at)

    run_date = datetime.fromtimestamp(at, UTC)
    for i in range(n):
        scheduler.add_job(
            handler, "date", run_date=run_date, id=f"job-{i}", misfire_grace_time=None
        )
    scheduler.start()
    try:
        await asyncio.wait_for(starts.done.wait(), 120)
    finally:
        scheduler.shutdown(wait=False)
    return starts.figures()


def main(options: Options) -> Report:
    n = 100 if options.quick else 1_000
    report = Report.of(
        "jobs", f"Jobs: {n:,} jobs due at the same second, lag and fired jobs/s", options
    )
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        root = Path(tmp)
        scratch = Scratch(root / "runs")
        scratch.root.mkdir()
        with nats_server(root / "nats") as url:
            Side = Callable[[], Coroutine[Any, Any, dict[str, float]]]

            def run(side: Side) -> Callable[[], Mapping[str, float]]:
                return lambda: asyncio.run(side())

            results = alternate(
                {
                    OURS: run(lambda: ours(url, scratch.fresh(), n)),
                    PEER: run(lambda: peer(n)),
                },
                options.runs,
            )
    mine, theirs = results[OURS], results[PEER]
    rows = [
        ("p50", f"lag scheduled -> started p50 ({n:,} due at once)", "ms"),
        ("p99", f"lag scheduled -> started p99 ({n:,} due at once)", "ms"),
        ("rate", "fired jobs/s (n / (last start - due time))", "jobs/s"),
    ]
    for key, case, unit in rows:
        r = ratio(mine[key], theirs[key])
        report.add(Row(case, OURS, mine[key], unit, f"{r:.2f}x APScheduler"))
        report.add(Row(case, PEER, theirs[key], unit, "1.00x"))
    report.notes.append(
        "One process, one nats-server (JetStream, file store) on 127.0.0.1. Ours: one bridge "
        f"with {n:,} jobs every {PERIOD_S} s (all due at the same boundary); each firing reads "
        "the pause flag, creates its lease, moves the job's watermark, and settles the lease and "
        "the last result, all on JetStream KV, which is what makes one firing per scheduled time "
        "across instances possible. APScheduler keeps its jobs in memory in one process and "
        "coordinates with nobody. Lag: from the scheduled second to the handler starting."
    )
    return report
