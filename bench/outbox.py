"""outbox: durable publishes/s (group commit) vs a commit per row, and drain rate to nats-server."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import nats

import runtime_lib as sb
from bench.generated import shared
from bench.nats import nats_server, small_event
from bench.report import Report, Row, verdict
from bench.runner import Options, alternate
from bench.stats import ratio
from bench.writer_prototype import prototype_rate
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.outbox import Outbox
from runtime_lib._ids import new_event_id

PUBLISHERS = 256
OURS = "bridge.publish (outbox, group commit)"
BASELINE = "sqlite3 loop, one commit per row"
DRAIN = "drainer: outbox -> JetStream"
RAW_JS = f"nats-py js.publish, {PUBLISHERS} in flight"
PROTOTYPE = "experiment: batched writer prototype (bench/writer_prototype.py)"


@dataclass(frozen=True, slots=True)
class Workload:
    publishes: int
    baseline_rows: int
    drain: int

    @classmethod
    def of(cls, options: Options) -> Workload:
        if options.quick:
            return cls(PUBLISHERS * 8, 300, 2_000)
        return cls(PUBLISHERS * 100, 2_000, 20_000)


class Scratch:
    """A fresh directory per run under one temporary root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def fresh(self) -> Path:
        self.count += 1
        path = self.root / f"run{self.count}"
        path.mkdir()
        return path


async def publish_rate(module: ModuleType, url: str, data_dir: Path, total: int) -> float:
    """Durable publishes per second from PUBLISHERS concurrent tasks through one bridge."""
    bridge = sb.Bridge(f"bench-pub-{data_dir.name}", data_dir=data_dir, events=url)
    per_task = total // PUBLISHERS
    async with bridge:
        await bridge.publish(small_event(module, -1))  # starts the events runtime

        async def publisher(task: int) -> None:
            event = small_event(module, task)
            for _ in range(per_task):
                await bridge.publish(event)

        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for task in range(PUBLISHERS):
                group.create_task(publisher(task))
        return per_task * PUBLISHERS / (time.perf_counter() - start)


def baseline_rate(data_dir: Path, rows: int) -> float:
    """A plain sqlite3 loop: WAL, synchronous=FULL, one INSERT and one COMMIT per row."""
    conn = sqlite3.connect(data_dir / "baseline.sqlite3", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT, name TEXT,"
            " headers TEXT, payload BLOB, state INTEGER, attempts INTEGER, next_at REAL,"
            " last_error TEXT, created_at REAL)"
        )
        headers = json.dumps({"sb-name": "bench.event", "sb-contract": "v2:" + "0" * 64})
        payload = b"x" * 80
        start = time.perf_counter()
        for _ in range(rows):
            now = time.time()
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO outbox (id, name, headers, payload, state, attempts, next_at,"
                " last_error, created_at) VALUES (?, ?, ?, ?, 0, 0, ?, '', ?)",
                (new_event_id(), "bench.event", headers, payload, now, now),
            )
            conn.execute("COMMIT")
        return rows / (time.perf_counter() - start)
    finally:
        conn.close()


async def _fill(module: ModuleType, data_dir: Path, service: str, rows: int) -> None:
    """Put ``rows`` events in ``service``'s outbox without a drainer running."""
    outbox = await asyncio.to_thread(Outbox.open, data_dir, service, max_rows=rows + 10)
    try:
        event = small_event(module, 0)
        payload = event.to_proto().SerializeToString()
        for offset in range(0, rows, 1000):
            await asyncio.gather(
                *(
                    outbox.add(
                        EventEnvelope(
                            id=new_event_id(),
                            name=event.EVENT_NAME,
                            payload=payload,
                            occurred_at_ms=time.time_ns() // 1_000_000,
                            contract_hash=event.CONTRACT_HASH,
                        )
                    )
                    for _ in range(min(1000, rows - offset))
                )
            )
    finally:
        await asyncio.to_thread(outbox.close)


async def drain_rate(module: ModuleType, url: str, data_dir: Path, rows: int) -> float:
    """Events per second the drainer moves from a filled outbox to JetStream (acked, deleted)."""
    service = f"bench-drain-{data_dir.name}"
    await _fill(module, data_dir, service, rows)
    bridge = sb.Bridge(
        service, data_dir=data_dir, events=sb.EventsConfig(broker=url, max_outbox_rows=rows + 10)
    )
    start = time.perf_counter()
    async with bridge:  # a backlog: start() starts the events runtime and its drainer
        deadline = start + 120
        while time.perf_counter() < deadline:
            counts = await bridge.outbox.counts()
            if sum(counts.values()) == 0:
                return rows / (time.perf_counter() - start)
            await asyncio.sleep(0.005)
    raise RuntimeError(f"the drainer did not empty the outbox within 120 s: {counts}")


async def raw_js_rate(module: ModuleType, url: str, tag: str, total: int) -> float:
    """nats-py alone: JetStream publishes (awaited PubAcks), PUBLISHERS in flight."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        stream = f"BENCHRAW{tag}"
        await js.add_stream(name=stream, subjects=[f"benchraw{tag}.>"])
        payload = small_event(module, 0).to_proto().SerializeToString()
        per_task = total // PUBLISHERS

        async def publisher() -> None:
            for _ in range(per_task):
                headers = {"Nats-Msg-Id": new_event_id(), "sb-name": "bench.event"}
                await js.publish(f"benchraw{tag}.bench.event", payload, headers=headers)

        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(PUBLISHERS):
                group.create_task(publisher())
        rate = per_task * PUBLISHERS / (time.perf_counter() - start)
        await js.delete_stream(stream)
        return rate
    finally:
        await client.close()


def main(options: Options) -> Report:
    work = Workload.of(options)
    report = Report.of("outbox", "Outbox: durable publishes/s and drain rate", options)
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        root = Path(tmp)
        module = shared().sb("bench_event")
        scratch = Scratch(root / "runs")
        scratch.root.mkdir()
        payload = small_event(module, 0).to_proto().SerializeToString()
        with nats_server(root / "nats") as url:

            def run(measure: Callable[[Path], float]) -> Callable[[], Mapping[str, float]]:
                return lambda: {"rate": measure(scratch.fresh())}

            subjects = {
                OURS: run(lambda d: asyncio.run(publish_rate(module, url, d, work.publishes))),
                BASELINE: run(lambda d: baseline_rate(d, work.baseline_rows)),
                PROTOTYPE: run(
                    lambda d: asyncio.run(prototype_rate(d, work.publishes, PUBLISHERS, payload))
                ),
                DRAIN: run(lambda d: asyncio.run(drain_rate(module, url, d, work.drain))),
                RAW_JS: run(lambda d: asyncio.run(raw_js_rate(module, url, d.name, work.drain))),
            }
            results = {k: v["rate"] for k, v in alternate(subjects, options.runs).items()}
    ours, base = results[OURS], results[BASELINE]
    r = ratio(ours, base)
    case = f"durable publishes, {PUBLISHERS} publishers"
    report.add(
        Row(
            case,
            OURS,
            ours,
            "events/s",
            f"{r:.1f}x baseline",
            f"≥ 50,000/s: {verdict(ours.median >= 50_000)}; ≥ 10x baseline: {verdict(r >= 10)}",
        )
    )
    report.add(Row(case, BASELINE, base, "rows/s", "1.0x"))
    proto = results[PROTOTYPE]
    report.add(Row(case, PROTOTYPE, proto, "rows/s", f"{ratio(proto, base):.1f}x baseline"))
    drain, raw = results[DRAIN], results[RAW_JS]
    dr = ratio(drain, raw)
    case = "to nats-server (JetStream, acked)"
    target = f"≥ 15,000/s: {verdict(drain.median >= 15_000)}"
    report.add(Row(case, DRAIN, drain, "events/s", f"{dr:.2f}x nats-py alone", target))
    report.add(Row(case, RAW_JS, raw, "msgs/s", "1.00x"))
    report.notes.append(
        f"Publishes: {work.publishes} per run from {PUBLISHERS} tasks through one "
        "runtime_lib.Bridge (outbox in WAL mode, synchronous=FULL, the drainer sending to a real "
        "nats-server meanwhile). Baseline: the same row shape with sqlite3, one transaction per "
        f"row, {work.baseline_rows} rows. Drain: {work.drain} events put in the outbox first, then "
        "a bridge started on it; timed from start() until the outbox is empty (connect included). "
        "nats-py alone: the same payload published with js.publish (awaiting each PubAck), "
        f"{PUBLISHERS} in flight. The event is small (bench/nats.py: 84 bytes of protobuf)."
    )
    return report
