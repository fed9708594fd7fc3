"""The outbox's hand-off to the drainer and the writer's lazy settles, on real SQLite files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime_lib._events import outbox as outbox_module
from runtime_lib._events.drainer import Drainer
from runtime_lib._events.outbox import Outbox, OutboxRow, RowState
from runtime_lib._events.sqlite_writer import SqliteWriter
from tests.events.helpers import wait_until
from tests.events.test_outbox import BatchingBus, _envelope


class CountingOutbox(Outbox):
    """Counts claims: a handed-off row must not need one."""

    claims = 0

    async def claim(self, limit: int) -> list[OutboxRow]:
        self.claims += 1
        return await super().claim(limit)


def _open(tmp_path: Path) -> CountingOutbox:
    opened = Outbox.open(tmp_path, "orders")
    opened.__class__ = CountingOutbox
    assert isinstance(opened, CountingOutbox)
    return opened


async def test_rows_added_while_the_drainer_keeps_up_go_out_without_a_claim(
    tmp_path: Path,
) -> None:
    bus = BatchingBus()
    bus.release.set()
    outbox = _open(tmp_path)
    drainer = Drainer(outbox, bus, idle_poll=3600)
    drainer.start()
    try:
        await wait_until(lambda: outbox.claims == 1, what="the first look at the table")
        for i in range(30):
            await outbox.add(_envelope(i))
        await wait_until(lambda: drainer.sent == 30, what="30 rows sent")
        assert bus.written == [f"id-{i}" for i in range(30)]
        assert outbox.claims == 1  # every row came in memory
        # ... with the header form its stored JSON holds (the dict from the add, not re-parsed)
        assert bus.headers == [_envelope(i).to_headers() for i in range(30)]
        await wait_until(lambda: outbox.rows == 0, what="the settles")
        assert sum((await outbox.counts()).values()) == 0
    finally:
        await drainer.stop()
        outbox.close()


async def test_adds_past_the_hand_off_limit_wait_in_the_table_and_keep_their_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "HANDOFF_ROWS", 3)
    bus = BatchingBus()  # acks held: the drainer falls behind
    outbox = _open(tmp_path)
    drainer = Drainer(outbox, bus, batch=2, depth=1, idle_poll=3600)
    drainer.start()
    try:
        await wait_until(lambda: outbox.claims == 1, what="the first look at the table")
        for i in range(12):
            await outbox.add(_envelope(i))
        assert (await outbox.counts())[RowState.PENDING] > 0  # some waited in the table
        bus.release.set()
        await wait_until(lambda: drainer.sent == 12, what="12 rows sent")
        assert bus.written == [f"id-{i}" for i in range(12)]  # handed-off rows never overtake
        assert outbox.claims > 1
    finally:
        await drainer.stop()
        outbox.close()


async def test_a_handed_off_row_is_in_flight_in_the_file_and_pending_after_a_crash(
    tmp_path: Path,
) -> None:
    outbox = Outbox.open(tmp_path, "orders")
    handed: list[OutboxRow] = []
    outbox.set_handoff(handed.extend)
    assert await outbox.claim(10) == []  # the table is drained: adds may be handed off
    await outbox.add(_envelope(0))
    # The publish is answered first; the hand-off follows in the writer thread.
    await wait_until(lambda: bool(handed), what="the hand-off")
    assert [row.envelope for row in handed] == [_envelope(0)]
    assert handed[0].state == RowState.IN_FLIGHT
    assert (await outbox.counts())[RowState.IN_FLIGHT] == 1
    outbox.close()  # as after a crash: the handed-off row was never sent

    reopened = Outbox.open(tmp_path, "orders")
    try:
        [row] = await reopened.claim(10)
        assert row.envelope == _envelope(0) and row.seq == handed[0].seq
    finally:
        reopened.close()


async def test_stopping_gives_back_handed_off_rows_not_yet_acked(tmp_path: Path) -> None:
    bus = BatchingBus()  # acks never come
    outbox = _open(tmp_path)
    drainer = Drainer(outbox, bus, batch=1, depth=1, publish_timeout=0.0, idle_poll=3600)
    drainer.start()
    try:
        await wait_until(lambda: outbox.claims == 1, what="the first look at the table")
        for i in range(3):
            await outbox.add(_envelope(i))
        await wait_until(lambda: bus.open_batches == 1, what="a batch out")
    finally:
        await drainer.stop()  # one row in a batch, the others handed off (or on their way)

    async def all_pending() -> bool:
        counts = await outbox.counts()
        return counts[RowState.PENDING] == 3 and counts[RowState.IN_FLIGHT] == 0

    try:
        await wait_until(all_pending, what="every row back to pending")
    finally:
        outbox.close()


async def test_the_drainer_stops_when_woken_as_it_is_cancelled(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path, "orders")
    drainer = Drainer(outbox, BatchingBus(), idle_poll=3600)
    drainer.start()
    try:
        await wait_until(lambda: drainer.idle, what="the drainer waiting for work")
        drainer.on_reconnect()  # sets the wake-up; the drainer has not run since
        async with asyncio.timeout(30):
            await drainer.stop()  # cancels in the same turn
    finally:
        outbox.close()


def test_a_lazy_operation_shares_the_next_transaction(tmp_path: Path) -> None:
    writer = SqliteWriter(tmp_path / "w.sqlite3", lazy_delay=3600)
    writer.start(lambda conn: conn.execute("CREATE TABLE t (x INTEGER)"))
    try:
        lazy = writer.submit(lambda conn: conn.execute("INSERT INTO t VALUES (1)"), lazy=True)
        writer.submit(lambda conn: conn.execute("INSERT INTO t VALUES (2)")).result(60)
        assert lazy.done() and writer.commits == 1  # one transaction, one fsync, for both
    finally:
        writer.close()


def test_a_lone_lazy_operation_commits_after_the_delay(tmp_path: Path) -> None:
    writer = SqliteWriter(tmp_path / "w.sqlite3", lazy_delay=0.01)
    writer.start(lambda conn: conn.execute("CREATE TABLE t (x INTEGER)"))
    try:
        writer.submit(lambda conn: conn.execute("INSERT INTO t VALUES (1)"), lazy=True).result(60)
        assert writer.commits == 1
    finally:
        writer.close()
