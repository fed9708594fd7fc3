"""events: publish -> handler latency and sustained delivered events/s on NATS JetStream.

Ours: a publishing bridge and a subscribing bridge (two services, one process) on a real
nats-server. Peer: nats-py alone, a JetStream publish awaited for its PubAck and a durable pull
consumer acking each message, the delivery path our runtime is built on.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

import runtime_lib as sb
from bench.generated import shared
from bench.nats import nats_server, small_event
from bench.outbox import Scratch
from bench.report import Report, Row, verdict
from bench.runner import Options, alternate
from bench.stats import percentile, ratio

OURS = "bridge.publish -> bridge.subscribe handler"
RAW = "nats-py js.publish -> pull consumer"
PUBLISHERS = 64


@dataclass(frozen=True, slots=True)
class Workload:
    sequential: int
    sustained: int

    @classmethod
    def of(cls, options: Options) -> Workload:
        return cls(50, 1_000) if options.quick else cls(300, 10_000)


class Arrivals:
    """Delivered keys, and a future per key a publisher is waiting for."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.all_in: asyncio.Event = asyncio.Event()
        self.expect = 0

    def arrived(self, key: str) -> None:
        now = time.perf_counter()
        self.seen.add(key)
        future = self.waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result(now)
        if self.expect and len(self.seen) >= self.expect:
            self.all_in.set()


Publish = Callable[[int], Awaitable[None]]


async def measure(publish: Publish, arrivals: Arrivals, work: Workload) -> dict[str, float]:
    """Sequential latency (publish called -> handler ran), then a sustained burst."""
    loop = asyncio.get_running_loop()
    samples = []
    for n in range(-20, work.sequential):  # the first 20 warm up
        future: asyncio.Future[float] = loop.create_future()
        arrivals.waiting[f"o-{n}"] = future
        start = time.perf_counter()
        await publish(n)
        done = await asyncio.wait_for(future, 30)
        if n >= 0:
            samples.append((done - start) * 1000)
    base = 1_000_000
    arrivals.seen.clear()
    arrivals.expect = work.sustained
    per_task = work.sustained // PUBLISHERS
    arrivals.expect = per_task * PUBLISHERS

    async def publisher(task: int) -> None:
        for i in range(per_task):
            await publish(base + task * per_task + i)

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for task in range(PUBLISHERS):
            group.create_task(publisher(task))
    await asyncio.wait_for(arrivals.all_in.wait(), 120)
    rate = arrivals.expect / (time.perf_counter() - start)
    return {"p50": percentile(samples, 0.5), "p99": percentile(samples, 0.99), "rate": rate}


async def ours(module: ModuleType, url: str, data_dir: Path, work: Workload) -> dict[str, float]:
    arrivals = Arrivals()
    events = [small_event(module, n) for n in range(-20, 0)]

    async def handler(event: Any, ctx: sb.EventContext) -> None:
        arrivals.arrived(event.order_id)

    tag = data_dir.name
    subscriber = sb.Bridge(f"bench-sub-{tag}", data_dir=data_dir / "sub", events=url)
    subscriber.subscribe(module.OrderPlaced, handler)
    publisher = sb.Bridge(f"bench-pub-{tag}", data_dir=data_dir / "pub", events=url)
    async with subscriber, publisher:

        async def publish(n: int) -> None:
            event = events[n] if n < 0 else small_event(module, n)
            await publisher.publish(event)

        return await measure(publish, arrivals, work)


@contextlib.asynccontextmanager
async def _raw_consumer(url: str, tag: str, arrivals: Arrivals) -> AsyncIterator[Any]:
    client = await nats.connect(url)
    js = client.jetstream()
    stream, subject = f"BENCHEV{tag}", f"benchev{tag}.bench.event"
    await js.add_stream(name=stream, subjects=[f"benchev{tag}.>"])
    config = ConsumerConfig(
        durable_name="bench", deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT
    )
    sub = await js.pull_subscribe(subject, durable="bench", stream=stream, config=config)
    stopping = asyncio.Event()

    async def fetch_loop() -> None:
        while not stopping.is_set():
            try:
                messages = await sub.fetch(64, timeout=0.5)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                arrivals.arrived((message.headers or {})["bench-key"])
                await message.ack()

    task = asyncio.create_task(fetch_loop())
    try:
        yield js, subject
    finally:
        stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 2)
        task.cancel()
        with contextlib.suppress(Exception):
            await js.delete_stream(stream)
        await client.close()


async def raw(module: ModuleType, url: str, data_dir: Path, work: Workload) -> dict[str, float]:
    arrivals = Arrivals()
    async with _raw_consumer(url, data_dir.name, arrivals) as (js, subject):

        async def publish(n: int) -> None:
            payload = small_event(module, n).to_proto().SerializeToString()
            await js.publish(subject, payload, headers={"bench-key": f"o-{n}"})

        return await measure(publish, arrivals, work)


def main(options: Options) -> Report:
    work = Workload.of(options)
    report = Report.of(
        "events",
        "Events: publish -> handler latency and delivered events/s on NATS JetStream",
        options,
    )
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        root = Path(tmp)
        module = shared().sb("bench_event")
        scratch = Scratch(root / "runs")
        scratch.root.mkdir()
        with nats_server(root / "nats") as url:
            Side = Callable[
                [ModuleType, str, Path, Workload], Coroutine[Any, Any, dict[str, float]]
            ]

            def run(side: Side) -> Callable[[], Mapping[str, float]]:
                return lambda: asyncio.run(side(module, url, scratch.fresh(), work))

            results = alternate({OURS: run(ours), RAW: run(raw)}, options.runs)
    mine, peer = results[OURS], results[RAW]
    rows = [
        ("p50", f"publish -> handler p50 ({work.sequential} sequential)", "ms", "≤ 5 ms"),
        ("p99", f"publish -> handler p99 ({work.sequential} sequential)", "ms", ""),
        ("rate", f"delivered events/s ({work.sustained}, {PUBLISHERS} publishers)", "events/s", ""),
    ]
    for key, case, unit, _ in rows:
        r = ratio(mine[key], peer[key])
        if key == "p50":
            target = f"≤ 5 ms: {verdict(mine[key].median <= 5)}"
        elif key == "rate":
            target = f"≥ 10,000/s: {verdict(mine[key].median >= 10_000)}"
        else:
            target = ""
        report.add(Row(case, OURS, mine[key], unit, f"{r:.2f}x nats-py", target))
        report.add(Row(case, RAW, peer[key], unit, "1.00x"))
    report.notes.append(
        "One process, one nats-server (JetStream, file store) on 127.0.0.1. Latency: from calling "
        "publish to the handler running, one event at a time (ours includes the durable outbox "
        "commit and the drainer's hop). Rate: events published by "
        f"{PUBLISHERS} tasks until the handler has seen all of them. Each run uses fresh services "
        "(new durable consumers); handlers do nothing but record the arrival."
    )
    return report
