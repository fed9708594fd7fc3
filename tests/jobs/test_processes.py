"""Real processes on a real nats-server: three instances of a one-second job fire each tick
exactly once; kill -9 of a lease holder; a one-shot surviving a restart of every process (and
of the broker)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime_lib._nats_server import NatsServer
from tests.jobs.helpers import until

HERE = Path(__file__).parent
LEASE_TTL = 5.0


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid

    @classmethod
    async def start(cls, *args: str) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "proc_worker.py"),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def line(self, prefix: str, limit: float = 30.0) -> str:
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), limit)
            if not raw:
                pytest.fail(f"worker exited ({self.process.returncode}) before {prefix!r}")
            text = raw.decode().strip()
            if text.startswith(prefix):
                return text

    async def end(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        await asyncio.wait_for(self.process.wait(), 30)


@pytest.fixture
async def workers() -> AsyncIterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        await worker.end(signal.SIGKILL)


def _lines(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line]


async def test_three_instances_fire_each_tick_once_and_survive_a_kill(
    nats_server: NatsServer, tmp_path: Path, workers: list[Worker]
) -> None:
    out = tmp_path / "runs.jsonl"

    def args(name: str) -> list[str]:
        return [
            "--url", nats_server.url,
            "--data-dir", str(tmp_path / name),
            "--out", str(out),
            "--tick",
            "--lease-ttl", str(LEASE_TTL),
        ]  # fmt: skip

    for i in range(3):
        workers.append(await Worker.start(*args(f"w{i}"), *(["--hang-first"] if i == 0 else [])))
    for worker in workers:
        await worker.line("ready")
    victim = workers[0]

    def done() -> list[dict[str, Any]]:
        return [line for line in _lines(out) if line["state"] == "done"]

    # Twenty ticks with all three racing for each one, and the victim stuck in one of them.
    await until(lambda: any(line["state"] == "hang" for line in _lines(out)), limit=120)
    await until(lambda: len({line["scheduled_ms"] for line in done()}) >= 20, limit=120)
    [hung] = [line for line in _lines(out) if line["state"] == "hang"]

    await victim.end(signal.SIGKILL)
    killed_ms = time.time() * 1000
    await until(lambda: any(line["key"] == hung["key"] for line in done()), limit=60)
    await until(lambda: any(line["scheduled_ms"] > killed_ms + 2000 for line in done()), limit=60)
    for worker in workers[1:]:
        await worker.end()

    runs = done()
    per_slot = Counter(line["scheduled_ms"] for line in runs)
    assert max(per_slot.values()) == 1, [slot for slot, n in per_slot.items() if n > 1]
    slots = sorted(per_slot)
    missing = sorted(set(range(slots[0], slots[-1] + 1, 1000)) - set(slots))
    assert not missing, f"ticks that did not fire: {missing}, lines: {_lines(out)}"
    assert len({line["pid"] for line in runs}) == 3

    # The hung slot is taken over by another instance, as its second attempt.
    [retaken] = [line for line in runs if line["key"] == hung["key"]]
    assert retaken["pid"] != victim.pid and retaken["attempt"] == 2
    # The first tick due after the kill fires from another instance within the lease TTL.
    after = min(
        (line for line in runs if line["scheduled_ms"] > killed_ms), key=lambda x: x["scheduled_ms"]
    )
    assert after["pid"] != victim.pid
    assert after["at_ms"] - after["scheduled_ms"] <= LEASE_TTL * 1000


async def test_a_one_shot_survives_a_restart_of_every_process(
    nats_server: NatsServer, tmp_path: Path, workers: list[Worker]
) -> None:
    out = tmp_path / "runs.jsonl"

    def args(name: str) -> list[str]:
        return ["--url", nats_server.url, "--data-dir", str(tmp_path / name), "--out", str(out)]

    scheduler = await Worker.start(*args("s"), "--schedule-in", "3")
    workers.append(scheduler)
    _, once_id, due_ms = (await scheduler.line("scheduled")).split()
    await scheduler.end()
    # Everything stops, the broker too; the one-shot falls due while nothing runs.
    nats_server.stop()
    await until(lambda: time.time() * 1000 > int(due_ms) + 500, limit=30)
    nats_server.start()
    assert _lines(out) == []

    for i in range(3):
        workers.append(await Worker.start(*args(f"w{i}")))
    await until(lambda: len(_lines(out)) >= 1, limit=60)
    # Give the other two instances every chance to fire it as well: stop them all first.
    for worker in workers[1:]:
        await worker.end()
    [run] = _lines(out)
    assert run["key"] == f"remind:once-{once_id}"
    assert run["payload"] == {"user": "u-1"}
    assert run["scheduled_ms"] == int(due_ms) or abs(run["scheduled_ms"] - int(due_ms)) < 1000
