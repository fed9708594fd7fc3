"""The outbox's file under storage faults: a full disk, a corrupted file, file modes."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime_lib._errors import ConfigError, ErrorCode, OutboxFullError
from runtime_lib._events.config import EventsConfig
from runtime_lib._events.context import EventContext
from runtime_lib._events.runtime import EventsRuntime
from runtime_lib._nats_server import NatsServer
from tests.events.eventlib import OrderPlaced
from tests.events.helpers import wait_until


async def _fill(runtime: EventsRuntime, limit: int = 20_000) -> tuple[list[str], OutboxFullError]:
    """Publish until the outbox refuses; the ids it acknowledged and the error it raised."""
    acknowledged: list[str] = []
    for i in range(limit):
        try:
            acknowledged.append(await runtime.publish(OrderPlaced(order_id=f"o-{i}")))
        except OutboxFullError as exc:
            return acknowledged, exc
    pytest.fail(f"the outbox took {limit} events without filling up")


async def _full_disk_round(
    data_dir: Path, nats_server: NatsServer, max_outbox_bytes: int | None = None
) -> None:
    """Broker down, publish until the disk is full; broker back: every acknowledged event is
    delivered, and publishing works again without a restart."""
    got: list[str] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append(event.order_id)

    sink = EventsRuntime(service="sink", data_dir=data_dir / "sink", events=nats_server.url)
    sink.subscribe(OrderPlaced, handler)
    runtime = EventsRuntime(
        service="orders",
        data_dir=data_dir,
        events=EventsConfig(broker=nats_server.url, max_outbox_bytes=max_outbox_bytes),
        drain_ladder=(0.2,),
    )
    await sink.start()
    await runtime.start()
    try:
        nats_server.stop()
        acknowledged, error = await _fill(runtime)
        assert acknowledged, "not one event fit"
        assert error.code is ErrorCode.OUTBOX_FULL
        assert str(runtime.outbox.path) in str(error) and "not stored" in str(error)
        assert runtime.outbox.disk_full
        nats_server.start()
        # The drainer delivers everything it acknowledged while the disk stays full.
        await wait_until(lambda: len(set(got)) == len(acknowledged), what="every event delivered")
        assert {f"o-{i}" for i in range(len(acknowledged))} == set(got)
        await wait_until(lambda: runtime.outbox.disk_full is False, what="the condition cleared")
        # Space is back without a restart: new events are stored and delivered.
        await runtime.publish(OrderPlaced(order_id="after"))
        await wait_until(lambda: "after" in got, what="the event published after recovery")
    finally:
        await runtime.stop()
        await sink.stop()


async def test_full_outbox_file_raises_outbox_full_and_the_drainer_recovers(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    # SQLite's max_page_count fails a write with the same SQLITE_FULL as a full disk.
    await _full_disk_round(tmp_path / "data", nats_server, max_outbox_bytes=64 * 1024)


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


async def test_full_tmpfs_raises_outbox_full_and_the_drainer_recovers(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    with _tmpfs(tmp_path / "small", "2m") as data_dir:
        await _full_disk_round(data_dir, nats_server)


async def test_corrupted_outbox_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    tmp_path.joinpath("outbox-orders.sqlite3").write_bytes(b"not a database, " * 512)
    runtime = EventsRuntime(service="orders", data_dir=tmp_path, events="memory")
    with pytest.raises(ConfigError) as caught:
        await runtime.start()
    message = str(caught.value)
    path = tmp_path / "outbox-orders.sqlite3"
    assert f"outbox {path} is not a readable SQLite database" in message
    assert "move the file aside" in message and "nothing was deleted" in message
    assert caught.value.__cause__ is None  # no raw sqlite3 error chained for the user to read
    assert path.read_bytes().startswith(b"not a database")  # left for the user


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_outbox_files_and_data_dir_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "state" / "sb"
    runtime = EventsRuntime(service="orders", data_dir=data_dir, events="memory")
    await runtime.start()
    try:
        await runtime.publish(OrderPlaced(order_id="1"))
        files = sorted(p.name for p in data_dir.iterdir())
        assert {"outbox-orders.sqlite3-wal", "outbox-orders.sqlite3-shm"} <= set(files)
        for path in data_dir.iterdir():
            assert _mode(path) == 0o600, path
        assert _mode(data_dir) == 0o700 and _mode(data_dir.parent) == 0o700
    finally:
        await runtime.stop()
