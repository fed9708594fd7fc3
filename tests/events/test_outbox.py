"""The outbox on real SQLite files: durability, group commit, limits, recovery, failed rows."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

import pytest

from runtime_lib._errors import ConfigError, OutboxFullError
from runtime_lib._events.backoff import ladder_delay
from runtime_lib._events.bus import PublishRejected
from runtime_lib._events.config import EventsConfig, OutboxSync
from runtime_lib._events.context import EventContext
from runtime_lib._events.drainer import BUSY_BATCH, Drainer
from runtime_lib._events.envelope import EventEnvelope, envelope_headers, header_form, headers_json
from runtime_lib._events.memory_bus import MemoryBus
from runtime_lib._events.outbox import Outbox, OutboxRow, Rearm, RowState
from runtime_lib._events.runtime import EventsRuntime
from runtime_lib._ids import new_event_id
from tests.events.eventlib import OrderPlaced, event_class
from tests.events.helpers import wait_drained, wait_until


class DownBus(MemoryBus):
    """A broker that never answers: every publish fails transiently."""

    async def publish(self, envelope: EventEnvelope, timeout_s: float) -> None:
        raise ConnectionError("broker down")


class PickyBus(MemoryBus):
    """Rejects events named ``*.poison`` for good."""

    async def publish(self, envelope: EventEnvelope, timeout_s: float) -> None:
        if envelope.name.endswith(".poison"):
            raise PublishRejected("payload too large")
        await super().publish(envelope, timeout_s)


def _envelope(i: int) -> EventEnvelope:
    return EventEnvelope(id=f"id-{i}", name="order.placed", payload=b"\x0a\x01x", occurred_at_ms=i)


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


async def test_concurrent_publishes_share_transactions(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path, "orders")
    try:
        before = outbox.commits
        await asyncio.gather(*(outbox.add(_envelope(i)) for i in range(500)))
        commits = outbox.commits - before
        assert _count(outbox.path) == 500  # durable: visible to another connection
        assert commits < 500
        assert outbox.rows == 500
    finally:
        outbox.close()


@pytest.mark.parametrize(("sync", "level"), [("full", 2), ("normal", 1)])
async def test_file_is_wal_and_commits_as_outbox_sync_says(
    tmp_path: Path, sync: OutboxSync, level: int
) -> None:
    outbox = Outbox.open(tmp_path, "orders", sync=sync)
    try:
        with sqlite3.connect(outbox.path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # synchronous is a setting of the connection that commits: the writer's own.
        got = await outbox._writer.run(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
        assert got == level
    finally:
        outbox.close()


def test_outbox_sync_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"outbox_sync='off'.*'full' or 'normal'"):
        EventsConfig(outbox_sync="off")  # type: ignore[arg-type]


async def test_full_outbox_raises_outbox_full(tmp_path: Path) -> None:
    runtime = EventsRuntime(
        service="orders",
        data_dir=tmp_path,
        events=EventsConfig(broker=DownBus(), max_outbox_rows=5),
    )
    await runtime.start()
    try:
        for i in range(5):
            await runtime.publish(OrderPlaced(order_id=str(i)))
        with pytest.raises(OutboxFullError):
            await runtime.publish(OrderPlaced(order_id="6"))
        with pytest.raises(OutboxFullError):
            await runtime.publish(OrderPlaced(order_id="7"), fire_and_forget=True)
        counts = await runtime.outbox.counts()
        assert sum(counts.values()) == 5
    finally:
        await runtime.stop()


async def test_in_flight_rows_go_back_to_pending_on_open(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path, "orders")
    for i in range(10):
        await outbox.add(_envelope(i))
    claimed = await outbox.claim(7)
    assert [r.envelope.id for r in claimed] == [f"id-{i}" for i in range(7)]
    assert (await outbox.counts())[RowState.IN_FLIGHT] == 7
    outbox.close()  # as after a crash: the claimed rows were never settled

    reopened = Outbox.open(tmp_path, "orders")
    try:
        counts = await reopened.counts()
        assert counts[RowState.PENDING] == 10 and counts[RowState.IN_FLIGHT] == 0
        again = await reopened.claim(100)
        assert [r.envelope.id for r in again] == [f"id-{i}" for i in range(10)]
        assert again[0].envelope == _envelope(0)
    finally:
        reopened.close()


async def test_settle_deletes_rearms_and_fails(tmp_path: Path) -> None:
    outbox = Outbox.open(tmp_path, "orders")
    try:
        for i in range(3):
            await outbox.add(_envelope(i))
        a, b, c = await outbox.claim(3)
        await outbox.settle([a.seq], [Rearm(b.seq, 60.0, "timeout")], [(c.seq, "rejected")])
        assert outbox.rows == 2
        assert await outbox.claim(10) == []  # b is not due for a minute
        [failed] = await outbox.list(RowState.FAILED)
        assert (failed.envelope.id, failed.last_error, failed.attempts) == ("id-2", "rejected", 1)
        await outbox.make_due()
        [due] = await outbox.claim(10)
        assert (due.envelope.id, due.attempts, due.last_error) == ("id-1", 1, "timeout")
    finally:
        outbox.close()


def test_drain_ladder_with_jitter() -> None:
    for attempts, base in [(1, 1.0), (2, 5.0), (3, 30.0), (4, 120.0), (5, 600.0), (9, 600.0)]:
        delays = [ladder_delay(attempts) for _ in range(50)]
        assert all(base * 0.75 <= d <= base * 1.25 for d in delays)


async def test_each_live_instance_takes_its_own_file(tmp_path: Path) -> None:
    first = Outbox.open(tmp_path, "orders")
    second = Outbox.open(tmp_path, "orders")
    try:
        assert first.path.name == "outbox-orders.sqlite3"
        assert second.path.name == "outbox-orders.1.sqlite3"
    finally:
        first.close()
        second.close()
    again = Outbox.open(tmp_path, "orders")
    try:
        assert again.path.name == "outbox-orders.sqlite3"
    finally:
        again.close()


async def test_rejected_rows_are_listed_retried_and_discarded(tmp_path: Path) -> None:
    bus = PickyBus()
    got: list[str] = []

    async def handler(envelope: EventEnvelope, ctx: EventContext) -> None:
        got.append(envelope.name)

    consumer = EventsRuntime(service="sink", data_dir=tmp_path / "sink", events=bus)
    consumer.subscribe("order.#", handler)
    publisher = EventsRuntime(service="orders", data_dir=tmp_path / "orders", events=bus)
    await consumer.start()
    await publisher.start()
    try:
        poison = event_class("order.poison")
        first = await publisher.publish(poison(order_id="p-1"))
        second = await publisher.publish(poison(order_id="p-2"))
        await publisher.publish(OrderPlaced(order_id="fine"))

        async def settled() -> bool:
            # The good row may still be in flight when the two bad ones have failed.
            return await publisher.outbox.counts() == {"pending": 0, "in_flight": 0, "failed": 2}

        await wait_until(settled)
        failed = await publisher.outbox.failed()
        assert {r.envelope.id for r in failed} == {first, second}
        assert all(r.last_error == "rejected: payload too large" for r in failed)

        assert await publisher.outbox.discard([first]) == 1
        bus.publish = MemoryBus.publish.__get__(bus)  # type: ignore[method-assign]
        assert await publisher.outbox.retry() == 1
        await wait_until(lambda: sorted(got) == ["order.placed", "order.poison"])
        await wait_drained(publisher.outbox)
    finally:
        await publisher.stop()
        await consumer.stop()


async def test_rows_survive_a_restart_while_the_broker_is_down(tmp_path: Path) -> None:
    first = EventsRuntime(service="orders", data_dir=tmp_path, events=DownBus())
    await first.start()
    ids = [await first.publish(OrderPlaced(order_id=str(i))) for i in range(20)]
    await first.stop()
    assert _count(tmp_path / "outbox-orders.sqlite3") == 20

    bus = MemoryBus()
    got: list[str] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append(ctx.event_id)

    consumer = EventsRuntime(service="sink", data_dir=tmp_path / "sink", events=bus)
    consumer.subscribe(OrderPlaced, handler)
    await consumer.start()
    second = EventsRuntime(service="orders", data_dir=tmp_path, events=bus)
    await second.start()
    try:
        await wait_until(lambda: len(got) == 20)
        assert sorted(got) == sorted(ids)
    finally:
        await second.stop()
        await consumer.stop()
    assert _count(tmp_path / "outbox-orders.sqlite3") == 0


class BatchingBus(MemoryBus):
    """A bus with the drainer's batch path: records the order rows were written in, answers
    each batch's acks only when the test says so, fails ``*.flaky`` and rejects ``*.poison``."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.open_batches = 0
        self.peak_batches = 0
        self.release = asyncio.Event()

    async def send_batch(
        self, rows: Sequence[OutboxRow], timeout_s: float
    ) -> Awaitable[list[BaseException | None]]:
        self.written.extend(row.envelope.id for row in rows)
        self.headers.extend(dict(row.headers) for row in rows)
        self.open_batches += 1
        self.peak_batches = max(self.peak_batches, self.open_batches)

        async def acks() -> list[BaseException | None]:
            await self.release.wait()
            self.open_batches -= 1
            results: list[BaseException | None] = []
            for row in rows:
                if row.name.endswith(".poison"):
                    results.append(PublishRejected("too large"))
                elif row.name.endswith(".flaky"):
                    results.append(ConnectionError("lost"))
                else:
                    await self.publish(row.envelope, timeout_s)
                    results.append(None)
            return results

        return acks()


async def test_pipelined_drain_keeps_claim_order_and_settles_every_outcome(tmp_path: Path) -> None:
    bus = BatchingBus()
    outbox = Outbox.open(tmp_path, "orders")
    names = ["order.placed"] * 9 + ["order.flaky", "order.poison"]
    for i, name in enumerate(names):
        envelope = _envelope(i)
        await outbox.add(EventEnvelope(id=envelope.id, name=name, payload=b"", occurred_at_ms=i))
    drainer = Drainer(outbox, bus, batch=2, depth=3, ladder=(60.0,))
    drainer.start()
    try:
        await wait_until(lambda: bus.open_batches == 3)  # three batches out, none acked yet
        await asyncio.sleep(0.05)
        assert bus.open_batches == 3  # the pipeline depth bounds what is in flight
        bus.release.set()

        async def settled() -> bool:
            counts = await outbox.counts()
            return counts[RowState.IN_FLIGHT] == 0 and sum(counts.values()) == 2

        await wait_until(settled)
        assert bus.written == [f"id-{i}" for i in range(11)]  # written in claim (seq) order
        assert bus.peak_batches == 3 and bus.published == 9 and drainer.sent == 9
        [failed] = await outbox.list(RowState.FAILED)
        [rearmed] = await outbox.list(RowState.PENDING)
        assert (failed.envelope.id, failed.attempts) == ("id-10", 1)
        assert (rearmed.envelope.id, rearmed.last_error) == ("id-9", "ConnectionError: lost")
        assert outbox.rows == 2
    finally:
        await drainer.stop()
        outbox.close()


async def test_stopping_mid_batch_puts_unacked_rows_back_to_pending(tmp_path: Path) -> None:
    bus = BatchingBus()
    outbox = Outbox.open(tmp_path, "orders")
    for i in range(4):
        await outbox.add(_envelope(i))
    drainer = Drainer(outbox, bus, batch=2, depth=2, publish_timeout=0.0)
    drainer.start()
    try:
        await wait_until(lambda: bus.open_batches == 2)
    finally:
        await drainer.stop()  # the acks never come: the batches are cancelled
    counts = await outbox.counts()
    outbox.close()
    assert counts[RowState.PENDING] == 4 and counts[RowState.IN_FLIGHT] == 0


async def test_open_replaces_the_sorting_due_index(tmp_path: Path) -> None:
    path = tmp_path / "outbox-orders.sqlite3"
    with sqlite3.connect(path) as conn:  # an outbox file from before the index change
        conn.execute(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,"
            " name TEXT NOT NULL, headers TEXT NOT NULL, payload BLOB NOT NULL,"
            " state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
            " next_at REAL NOT NULL, last_error TEXT NOT NULL DEFAULT '',"
            " created_at REAL NOT NULL)"
        )
        conn.execute("CREATE INDEX outbox_due ON outbox (state, next_at, seq)")
        conn.execute(
            "INSERT INTO outbox (id, name, headers, payload, next_at, created_at)"
            """ VALUES ('id-0', 'order.placed', '{"sb-id":"id-0","sb-name":"order.placed"}',"""
            " x'', 0, 0)"
        )
    outbox = Outbox.open(tmp_path, "orders")
    try:
        [row] = await outbox.claim(10)
        assert row.envelope.id == "id-0"
    finally:
        outbox.close()
    with sqlite3.connect(path) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM outbox WHERE state = 0 AND next_at <= 1"
            " ORDER BY seq LIMIT 5"
        ).fetchall()
    assert "outbox_due" not in indexes and "outbox_state_seq" in indexes
    assert not any("TEMP B-TREE" in str(step) for step in plan)


def test_headers_json_is_compact_json() -> None:
    headers = {"sb-id": "x", 'quote"key': "line\nbreak", "ünï": "çødé ✓", "empty": ""}
    text = headers_json(headers)
    assert text == json.dumps(headers, separators=(",", ":"))
    assert json.loads(text) == headers
    assert headers_json({}) == "{}"


def test_event_ids_are_unique_sorted_uuidv7() -> None:
    ids = [new_event_id() for _ in range(5000)]  # spans several chunks of drawn randomness
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert all(i[14] == "7" and i[19] in "89ab" for i in ids)
    assert len({i[-12:] for i in ids}) == len(ids)  # the random tail differs from id to id


async def test_drainer_yields_to_publishers_while_rows_are_being_added(tmp_path: Path) -> None:
    """While publishers are adding rows the drainer keeps one batch of at most BUSY_BATCH rows
    in flight. Deterministic: "adding" is pinned on, and each batch's acks are held until the
    test has seen that no second batch went out beside it."""
    bus = BatchingBus()
    outbox = Outbox.open(tmp_path, "orders")
    await asyncio.gather(*(outbox.add(_envelope(i)) for i in range(200)))
    sent: asyncio.Queue[int] = asyncio.Queue()
    answered: asyncio.Queue[None] = asyncio.Queue()
    send_batch = bus.send_batch

    async def recording(
        rows: Sequence[OutboxRow], timeout_s: float
    ) -> Awaitable[list[BaseException | None]]:
        sent.put_nowait(len(rows))
        acks = await send_batch(rows, timeout_s)

        async def tracked() -> list[BaseException | None]:
            try:
                return await acks
            finally:
                answered.put_nowait(None)

        return tracked()

    bus.send_batch = recording  # type: ignore[method-assign]
    outbox.last_add = math.inf  # publishers "adding" for the whole test
    drainer = Drainer(outbox, bus, batch=256, depth=4)
    drainer.start()
    sizes: list[int] = []
    try:
        while sum(sizes) < 200:
            sizes.append(await sent.get())
            # The drainer only claims the next batch after this one's acks: nothing else is out.
            assert sent.empty() and bus.open_batches == 1
            bus.release.set()
            await answered.get()
            bus.release.clear()
    finally:
        bus.release.set()
        await drainer.stop()
        outbox.close()
    full, rest = divmod(200, BUSY_BATCH)
    assert sizes == [BUSY_BATCH] * full + [rest] and bus.peak_batches == 1
    assert bus.written == [f"id-{i}" for i in range(200)]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"contract_hash": "v2:" + "ab" * 32},
        {"idempotency_key": "k-1", "contract_hash": "v2:x"},
        {"partition_key": 'p"1'},
        {"trace_headers": {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}},
        {"headers": {"x-user": "ü\\", "x-n": "1"}},
    ],
    ids=["plain", "contract", "idempotency", "partition", "trace", "user"],
)
def test_header_form_dict_is_what_its_json_stores(options: dict[str, Any]) -> None:
    # A row handed to the drainer in memory carries the dict; one claimed later, the JSON.
    form, text = header_form("0192f0a0-aaaa-7bbb-8ccc-1234567890ab", 17, **options)
    assert json.loads(text) == form
    assert form == envelope_headers("0192f0a0-aaaa-7bbb-8ccc-1234567890ab", 17, **options)
    assert text == headers_json(form)


async def test_stored_headers_are_the_envelope_header_form(tmp_path: Path) -> None:
    runtime = EventsRuntime(service="orders", data_dir=tmp_path, events=DownBus())
    await runtime.start()
    try:
        plain = await runtime.publish(OrderPlaced(order_id="1"))
        keyed = await runtime.publish(
            OrderPlaced(order_id="2"), partition_key="p", headers={"x-user": "ü\\"}
        )
        path = runtime.outbox.path
    finally:
        await runtime.stop()
    with sqlite3.connect(path) as conn:
        stored = dict(conn.execute("SELECT id, headers FROM outbox").fetchall())
    assert set(stored) == {plain, keyed}
    name = OrderPlaced.EVENT_NAME
    for text in stored.values():
        envelope = EventEnvelope.from_headers(json.loads(text), b"", name=name)
        assert text == headers_json(envelope.to_headers())  # same text as the envelope's form
        assert envelope.contract_hash == OrderPlaced.CONTRACT_HASH
    first = EventEnvelope.from_headers(json.loads(stored[plain]), b"", name=name)
    second = EventEnvelope.from_headers(json.loads(stored[keyed]), b"", name=name)
    assert (first.partition_key, first.headers) == ("", {})
    assert (second.partition_key, second.headers) == ("p", {"x-user": "ü\\"})


def test_a_process_that_drops_its_bridge_without_stop_exits(tmp_path: Path) -> None:
    """The outbox's writer thread must not keep the interpreter alive once nothing uses it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.events.proc_dropped_bridge", str(tmp_path)],
        cwd=Path(__file__).parents[2],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # The bound only turns a hang into a failure; a healthy exit takes well under a second.
        out, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the process did not exit: a runtime thread kept it alive")
    assert process.returncode == 0 and out.strip() == "published"
