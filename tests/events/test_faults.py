"""Fault tests with real processes: SIGKILLed publisher, stopped broker, killed consumer."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime_lib._events.context import EventContext
from runtime_lib._events.runtime import EventsRuntime
from runtime_lib._nats_server import NatsServer
from tests.events.eventlib import OrderPlaced
from tests.events.helpers import wait_drained, wait_until

HERE = Path(__file__).parent


class Proc:
    """A script from this folder run as its own Python process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, script: str, *args: str) -> Proc:
        # As a module of the tests package, so it imports tests.events.eventlib like the tests do.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"tests.events.{Path(script).stem}",
            *args,
            cwd=HERE.parents[1],
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def expect(self, line: str, limit: float = 20.0) -> None:
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), limit)
            if not raw:
                pytest.fail(f"process exited ({self.process.returncode}) before {line!r}")
            if raw.decode().strip() == line:
                return

    async def end(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        await asyncio.wait_for(self.process.wait(), 20)


@pytest.fixture
async def procs() -> AsyncIterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        await proc.end(signal.SIGKILL)


def _outbox_rows(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "outbox-orders.sqlite3") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


async def _sink(url: str, data_dir: Path, got: list[str]) -> EventsRuntime:
    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append(event.order_id)

    runtime = EventsRuntime(service="sink", data_dir=data_dir, events=url)
    runtime.subscribe(OrderPlaced, handler)
    await runtime.start()
    return runtime


# "normal" fsyncs only at checkpoints; a killed process still loses nothing the OS holds.
@pytest.mark.parametrize("outbox_sync", ["full", "normal"])
async def test_publisher_killed_while_draining_loses_nothing(
    tmp_path: Path, nats_server: NatsServer, procs: list[Proc], outbox_sync: str
) -> None:
    count = 3000
    got: list[str] = []
    sink = await _sink(nats_server.url, tmp_path / "sink", got)
    data_dir = tmp_path / "orders"
    try:
        args = ["--url", nats_server.url, "--data-dir", str(data_dir)]
        args += ["--outbox-sync", outbox_sync]
        # A small drain batch keeps the drain slow enough to kill it half-way.
        first = await Proc.start(
            "proc_publisher.py", *args, "--count", str(count), "--drain-batch", "4"
        )
        procs.append(first)
        await first.expect("published")
        await wait_until(lambda: len(got) >= 100, what="the drain to start")
        await first.end(signal.SIGKILL)
        left = _outbox_rows(data_dir)
        assert 0 < left < count, "killed while draining"

        second = await Proc.start("proc_publisher.py", *args)
        procs.append(second)
        await second.expect("drained", limit=60)
        await second.end()
        await wait_until(lambda: len(got) >= count, limit=30, what=f"{count} deliveries")
        await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
        assert sorted(got) == sorted(f"o-{i}" for i in range(count))
        assert _outbox_rows(data_dir) == 0
    finally:
        await sink.stop()


async def test_broker_stopped_while_publishing_loses_nothing(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    got: list[str] = []
    sink = await _sink(nats_server.url, tmp_path / "sink", got)
    publisher = EventsRuntime(
        service="orders", data_dir=tmp_path / "orders", events=nats_server.url, publish_timeout=1.0
    )
    await publisher.start()
    try:
        for i in range(300):
            await publisher.publish(OrderPlaced(order_id=f"o-{i}"))
        await asyncio.to_thread(nats_server.stop)
        for i in range(300, 600):
            await publisher.publish(OrderPlaced(order_id=f"o-{i}"))
        await asyncio.sleep(1.0)  # the drainer meets the dead broker and re-arms rows
        await asyncio.to_thread(nats_server.start)  # same port, same store
        for i in range(600, 700):
            await publisher.publish(OrderPlaced(order_id=f"o-{i}"))
        await wait_until(lambda: len(got) >= 700, limit=40, what="700 deliveries")
        await asyncio.sleep(0.5)
        assert sorted(got) == sorted(f"o-{i}" for i in range(700))
        await wait_drained(publisher.outbox)
    finally:
        await publisher.stop()
        await sink.stop()


async def test_consumer_killed_mid_handler_redelivers_to_another_instance(
    tmp_path: Path, nats_server: NatsServer, procs: list[Proc]
) -> None:
    out = tmp_path / "handled.jsonl"

    def lines() -> list[dict[str, object]]:
        if not out.exists():
            return []
        return [json.loads(line) for line in out.read_text().splitlines() if line]

    def consumer_args(name: str) -> list[str]:
        return [
            "--url", nats_server.url,
            "--data-dir", str(tmp_path / name),
            "--out", str(out),
            "--ack-wait", "1.5",
        ]  # fmt: skip

    first = await Proc.start("proc_consumer.py", *consumer_args("a"), "--hang", "o-0")
    procs.append(first)
    await first.expect("ready")
    publisher = EventsRuntime(
        service="orders", data_dir=tmp_path / "orders", events=nats_server.url
    )
    await publisher.start()
    try:
        await publisher.publish(OrderPlaced(order_id="o-0"))
        await wait_until(
            lambda: any(rec["state"] == "started" for rec in lines()), what="o-0 started"
        )
        for i in range(1, 10):
            await publisher.publish(OrderPlaced(order_id=f"o-{i}"))
        await wait_until(lambda: len([rec for rec in lines() if rec["state"] == "done"]) == 9)
        await asyncio.sleep(0.5)  # let the nine acks reach the broker before the kill
        await first.end(signal.SIGKILL)

        second = await Proc.start("proc_consumer.py", *consumer_args("b"))
        procs.append(second)
        await second.expect("ready")
        await wait_until(
            lambda: any(rec["order_id"] == "o-0" and rec["state"] == "done" for rec in lines()),
            limit=20,
            what="o-0 redelivered",
        )
        await asyncio.sleep(0.5)
        await second.end()
    finally:
        await publisher.stop()
    done = [rec for rec in lines() if rec["state"] == "done"]
    assert sorted(str(rec["order_id"]) for rec in done) == sorted(f"o-{i}" for i in range(10))
    [redelivered] = [rec for rec in done if rec["order_id"] == "o-0"]
    assert redelivered["pid"] == second.process.pid
    assert int(str(redelivered["attempt"])) >= 2
