"""events: publish -> handler latency and sustained delivered events/s on NATS JetStream.

Publisher and subscriber run in separate processes, as a deployment would run them: this process
publishes, ``bench.events_subscriber`` handles. Ours: a publishing bridge and a subscribing
bridge on a real nats-server. Peer: nats-py alone, a JetStream publish awaited for its PubAck
and a durable pull consumer acking each message, the delivery path our runtime is built on.
Both processes read ``time.monotonic()``, one clock for the whole machine.
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import nats

import runtime_lib as sb
from bench.events_subscriber import raw_names
from bench.generated import Generated, shared
from bench.nats import nats_server_process, small_event
from bench.outbox import Scratch
from bench.procs import REPO, Server, cpu_seconds, read_syscalls
from bench.report import Report, Row, verdict
from bench.runner import Options, alternate
from bench.stats import percentile, ratio
from bench.tools import PYTHON, python_path
from runtime_lib._events.envelope import envelope_headers
from runtime_lib._ids import new_event_id

OURS = "bridge.publish -> bridge.subscribe handler"
# The broker's own durability: nats-server acknowledges a JetStream publish once its file store
# has written it, and fsyncs every two minutes by default.
OURS_NORMAL = "the same, EventsConfig(outbox_sync='normal')"
RAW = "nats-py js.publish -> pull consumer"
# Not the target's peer: what the runtime's wire costs nats-py itself (docs/wire.md, "Events").
RAW_WIRE = "experiment: the same nats-py, with our headers and interest retention"
PUBLISHERS = 64


@dataclass(frozen=True, slots=True)
class Workload:
    sequential: int
    sustained: int

    @classmethod
    def of(cls, options: Options) -> Workload:
        return cls(50, 1_000) if options.quick else cls(300, 10_000)


class Subscriber:
    """A ``bench.events_subscriber`` process and the arrivals it reports."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pid = process.pid

    @classmethod
    async def start(cls, kind: str, url: str, data_dir: Path, gen: Generated) -> Subscriber:
        process = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            "bench.events_subscriber",
            kind,
            url,
            str(data_dir),
            data_dir.name,
            str(gen.root),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=python_path(REPO, *gen.paths),
        )
        subscriber = cls(process)
        await subscriber._line("READY")
        return subscriber

    async def _line(self, head: str) -> list[str]:
        assert self._process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self._process.stdout.readline(), 120)
            if not raw:
                raise RuntimeError(f"bench subscriber exited before {head}")
            words = raw.decode().split()
            if words and words[0] == head:
                return words

    async def arrival(self, key: str) -> float:
        """When the handler saw ``key`` (its process's ``time.monotonic()``)."""
        while True:
            _, seen, at = await self._line("K")
            if seen == key:
                return float(at)

    async def expect(self, count: int) -> None:
        """From now on report only when ``count`` more events have arrived."""
        assert self._process.stdin is not None
        self._process.stdin.write(f"EXPECT {count}\n".encode())
        await self._process.stdin.drain()

    async def all_in(self) -> float:
        (_, at) = await self._line("ALL")
        return float(at)

    async def stop(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 30)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


Publish = Callable[[int], Awaitable[None]]


async def measure(
    publish: Publish, subscriber: Subscriber, work: Workload, broker_pid: int
) -> dict[str, float]:
    """Sequential latency (publish called -> handler ran), then a sustained burst and the CPU
    each process (this publisher, the subscriber, nats-server) spent on it per event."""
    samples = []
    for n in range(-20, work.sequential):  # the first 20 warm up
        start = time.monotonic()
        await publish(n)
        done = await subscriber.arrival(f"o-{n}")
        if n >= 0:
            samples.append((done - start) * 1000)
    base = 1_000_000
    per_task = work.sustained // PUBLISHERS
    count = per_task * PUBLISHERS
    await subscriber.expect(count)

    async def publisher(task: int) -> None:
        for i in range(per_task):
            await publish(base + task * per_task + i)

    cpu = (time.process_time(), cpu_seconds(subscriber.pid), cpu_seconds(broker_pid))
    reads = read_syscalls(broker_pid)
    start = time.monotonic()
    async with asyncio.TaskGroup() as group:
        for task in range(PUBLISHERS):
            group.create_task(publisher(task))
    rate = count / (await subscriber.all_in() - start)
    used = (time.process_time(), cpu_seconds(subscriber.pid), cpu_seconds(broker_pid))
    broker_reads = (read_syscalls(broker_pid) - reads) / count
    pub_us, sub_us, broker_us = (
        (after - before) * 1e6 / count for before, after in zip(cpu, used, strict=True)
    )
    return {
        "p50": percentile(samples, 0.5),
        "p99": percentile(samples, 0.99),
        "rate": rate,
        "cpu_pub": pub_us,
        "cpu_sub": sub_us,
        "cpu_broker": broker_us,
        "cpu_all": pub_us + sub_us + broker_us,
        "broker_reads": broker_reads,
    }


async def ours(
    gen: Generated,
    broker: Server,
    data_dir: Path,
    work: Workload,
    sync: Literal["full", "normal"] = "full",
) -> dict[str, float]:
    url = broker.address
    module = gen.sb("bench_event")
    events = [small_event(module, n) for n in range(-20, 0)]
    subscriber = await Subscriber.start("sb", url, data_dir / "sub", gen)
    try:
        publisher = sb.Bridge(
            f"bench-pub-{data_dir.name}",
            data_dir=data_dir / "pub",
            events=sb.EventsConfig(broker=url, outbox_sync=sync),
        )
        async with publisher:

            async def publish(n: int) -> None:
                event = events[n] if n < 0 else small_event(module, n)
                await publisher.publish(event)

            return await measure(publish, subscriber, work, broker.pid)
    finally:
        await subscriber.stop()


async def raw(
    gen: Generated, broker: Server, data_dir: Path, work: Workload, *, wire: bool = False
) -> dict[str, float]:
    """``wire``: each publish carries the envelope headers the runtime sends (``Nats-Msg-Id``,
    ``sb-occurred-at``, ``sb-contract``) and the stream keeps events until acked (interest
    retention), as ``SB_EVENTS`` does."""
    url = broker.address
    module = gen.sb("bench_event")
    subscriber = await Subscriber.start("raw-wire" if wire else "raw", url, data_dir, gen)
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        _, subject = raw_names(data_dir.name)

        def headers(n: int) -> dict[str, str]:
            if not wire:
                return {"bench-key": f"o-{n}"}
            return envelope_headers(
                new_event_id(),
                time.time_ns() // 1_000_000,
                contract_hash=module.OrderPlaced.CONTRACT_HASH,
            )

        async def publish(n: int) -> None:
            payload = small_event(module, n).to_proto().SerializeToString()
            await js.publish(subject, payload, headers=headers(n))

        return await measure(publish, subscriber, work, broker.pid)
    finally:
        await client.close()
        await subscriber.stop()


def main(options: Options) -> Report:
    work = Workload.of(options)
    report = Report.of(
        "events",
        "Events: publish -> handler latency and delivered events/s on NATS JetStream",
        options,
    )
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        root = Path(tmp)
        gen = shared()
        scratch = Scratch(root / "runs")
        scratch.root.mkdir()
        with nats_server_process(root / "nats") as broker:
            Side = Callable[
                [Generated, Server, Path, Workload], Coroutine[Any, Any, dict[str, float]]
            ]

            def run(side: Side) -> Callable[[], Mapping[str, float]]:
                return lambda: asyncio.run(side(gen, broker, scratch.fresh(), work))

            normal: Side = functools.partial(ours, sync="normal")
            wire: Side = functools.partial(raw, wire=True)
            subjects = {
                OURS: run(ours),
                OURS_NORMAL: run(normal),
                RAW: run(raw),
                RAW_WIRE: run(wire),
            }
            results = alternate(subjects, options.runs)
    peer = results[RAW]
    rows = [
        ("p50", f"publish -> handler p50 ({work.sequential} sequential)", "ms", "≤ 5 ms"),
        ("p99", f"publish -> handler p99 ({work.sequential} sequential)", "ms", ""),
        ("rate", f"delivered events/s ({work.sustained}, {PUBLISHERS} publishers)", "events/s", ""),
        ("cpu_pub", "CPU per delivered event: publisher process", "µs", ""),
        ("cpu_sub", "CPU per delivered event: subscriber process", "µs", ""),
        ("cpu_broker", "CPU per delivered event: nats-server", "µs", ""),
        ("cpu_all", "CPU per delivered event: all three processes", "µs", ""),
        ("broker_reads", "nats-server read syscalls per delivered event", "reads", ""),
    ]
    for key, case, unit, _ in rows:
        for subject in (OURS, OURS_NORMAL):
            mine = results[subject]
            r = ratio(mine[key], peer[key])
            if key == "p50":
                target = f"≤ 5 ms: {verdict(mine[key].median <= 5)}"
            elif key == "rate":
                target = f"≥ 1.0x nats-py: {verdict(r >= 1.0)}"
            else:
                target = ""
            report.add(Row(case, subject, mine[key], unit, f"{r:.2f}x nats-py", target))
        report.add(Row(case, RAW, peer[key], unit, "1.00x"))
        same_wire = results[RAW_WIRE][key]
        report.add(Row(case, RAW_WIRE, same_wire, unit, f"{ratio(same_wire, peer[key]):.2f}x"))
    report.notes.append(
        "Publisher and subscriber in separate processes, one nats-server (JetStream, file store) "
        "on 127.0.0.1. Latency: from calling "
        "publish to the handler running, one event at a time (ours includes the durable outbox "
        "commit and the drainer's hop). Rate: events published by "
        f"{PUBLISHERS} tasks until the handler has seen all of them. Each run of ours has a fresh "
        "publishing service and the same subscribing one, so one durable consumer (a new one "
        "per run would leave the last run's holding interest in every event, and interest "
        "retention would stop deleting them); each nats-py run a stream of its own, deleted "
        "after it. Handlers do nothing but record the arrival. Both subscribers pull 64 events "
        "per request (ours: EventsConfig(max_in_flight=64), the default being 32 handlers at "
        "once; the nats-py consumer: fetch(64)). Durability: by "
        "default our publish returns after an fsynced outbox commit, so 64 publishers are bound "
        "by the disk's commit latency; nats-server acknowledges after writing to its file store "
        "and fsyncs every two minutes by default, which outbox_sync='normal' matches (a publish "
        "survives its process being killed, not a power loss). CPU per delivered event: user + "
        "system time of each process (/proc/<pid>/stat; the publisher's own process_time) over "
        "the sustained burst, divided by its events; on a loaded machine the figure to trust. "
        "nats-server read syscalls (/proc/<pid>/io syscr) over the burst, per event: how often "
        "it woke up to read its clients, a count that load does not blur."
    )
    report.notes.append(
        f"'{RAW_WIRE}' is not a target: nats-py publishing the runtime's envelope headers "
        "(Nats-Msg-Id, sb-occurred-at, sb-contract; docs/wire.md) to a stream "
        "with interest retention (each ack deletes the event: one more store write per event), "
        "its subscriber decoding the protobuf payload. It shows what the wire contract costs "
        "nats-py and nats-server alone, which the plain peer (one short header, limits "
        "retention, no decode) does not pay."
    )
    return report
