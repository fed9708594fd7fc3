"""The durable outbox: events wait here, in SQLite, until the broker has acknowledged them.

One row per event. ``state`` is pending (due at ``next_at``), in flight (claimed by the drainer) or
failed (rejected by the broker for good; kept for an operator). Rows in flight when a process dies
go back to pending on the next open: the broker dedupes the resend by ``Nats-Msg-Id``.

Each process takes its own file (``outbox-<service>.sqlite3``, then ``.1``, ``.2`` … when other
live instances of the service already hold the lower ones, by an exclusive ``flock``), so a
restarted instance picks up what a dead one left behind and no two drainers share rows.

Hand-off: while the drainer has caught up (its last claim left no due pending row), rows are
inserted already in flight and handed to it in memory once their transaction commits, so a row
costs no claim (a write transaction, one ``fsync``, that the drainer would wait for). Order holds:
once one add has to wait in the table (the drainer is behind by ``HANDOFF_ROWS``), every add goes
there until a claim finds the table drained again. A crash loses nothing: in-flight rows go back
to pending on the next open.

Files are created 0600 in a 0700 folder (payloads are business data). SQLite failures reach
callers as our errors, naming the file: a full disk is :class:`OutboxFullError` (the event was not
stored; the drainer keeps delivering and deleting, which frees space), an unreadable file a
:class:`ConfigError` that says to move it aside.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import fcntl
import functools
import json
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

from runtime_lib._errors import ConfigError, InternalError, OutboxFullError
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.sqlite_writer import SqliteWriter
from runtime_lib._private_files import open_private, private_dir

if TYPE_CHECKING:
    from runtime_lib._events.config import OutboxSync

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    headers TEXT NOT NULL,
    payload BLOB NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
-- Pending rows in seq order, so a claim reads the oldest first without sorting the backlog
-- (the old index on (state, next_at, seq) made every claim sort all pending rows).
DROP INDEX IF EXISTS outbox_due;
CREATE INDEX IF NOT EXISTS outbox_state_seq ON outbox (state, seq, next_at);
"""


class RowState(enum.IntEnum):
    PENDING = 0
    IN_FLIGHT = 1
    FAILED = 2


class OutboxRow:
    """One outbox row. ``headers`` is the event's header form (what the broker gets, without
    ``Nats-Msg-Id``); ``envelope`` rebuilds the envelope from it when asked."""

    __slots__ = (
        "attempts",
        "created_at",
        "headers",
        "last_error",
        "name",
        "payload",
        "seq",
        "state",
    )

    def __init__(
        self,
        seq: int,
        name: str,
        headers: dict[str, str],
        payload: bytes,
        state: RowState,
        attempts: int,
        last_error: str,
        created_at: float,
    ) -> None:
        self.seq = seq
        self.name = name
        self.headers = headers
        self.payload = payload
        self.state = state
        self.attempts = attempts
        self.last_error = last_error
        self.created_at = created_at

    @property
    def envelope(self) -> EventEnvelope:
        return EventEnvelope.from_headers(self.headers, self.payload, name=self.name)

    def __repr__(self) -> str:
        return f"OutboxRow(seq={self.seq}, name={self.name!r}, state={self.state.name})"


@dataclass(frozen=True, slots=True)
class Rearm:
    seq: int
    delay: float
    error: str


_T = TypeVar("_T")

HANDOFF_ROWS = 1024
"""Rows handed to the drainer in memory and not yet taken by it, at most; beyond, adds wait in
the table for a claim."""

Handoff = Callable[[list["OutboxRow"]], None]

_ROW_COLUMNS = "seq, name, headers, payload, state, attempts, last_error, created_at"

_loads = json.loads


def _row(values: tuple[int, str, str, bytes, int, int, str, float]) -> OutboxRow:
    seq, name, headers, payload, state, attempts, error, created = values
    return OutboxRow(
        seq, name, _loads(headers), bytes(payload), RowState(state), attempts, error, created
    )


def _chunks(conn: sqlite3.Connection, width: int, count: int) -> int:
    """Rows per multi-row statement: one statement runs as one step (one GIL hand-off)."""
    return max(1, min(500, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width, count))


def _is_full(error: BaseException) -> bool:
    return isinstance(error, sqlite3.Error) and error.sqlite_errorcode == sqlite3.SQLITE_FULL


def storage_error(path: Path, error: BaseException) -> BaseException:
    """``error`` from SQLite as the caller sees it: ours, naming the file; others unchanged."""
    if not isinstance(error, sqlite3.Error):
        return error
    if _is_full(error):
        return OutboxFullError(
            f"outbox {path}: no space left for the event (SQLite: {error}); it was not stored."
            " Free space on that volume (or raise EventsConfig.max_outbox_bytes); the drainer frees space as"
            " the broker acknowledges events"
        )
    code = getattr(error, "sqlite_errorcode", None)
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return ConfigError(
            f"outbox {path} is not a readable SQLite database ({error}). Stop the service, move"
            f" the file aside (with its -wal and -shm files, if any) and start again: a new"
            f" outbox is created; nothing was deleted, so the moved file can still be inspected"
        )
    return InternalError(f"outbox {path}: SQLite failed: {error}")


def _safe(service: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", service) or "service"


class Outbox:
    """Open with :meth:`open`; close with :meth:`close`. All writes go through one writer thread."""

    def __init__(
        self, writer: SqliteWriter, lock_file: IO[bytes], max_rows: int, rows: int
    ) -> None:
        self._writer = writer
        self._lock_file = lock_file
        self.max_rows = max_rows
        self._rows = rows
        self._rows_lock = threading.Lock()
        self._wake: Callable[[], None] = lambda: None
        self._handoff: Handoff | None = None
        # Writer thread only: whether the last claim left no due pending row (adds may skip the
        # table's queue), and rows handed off but not yet taken (under _rows_lock).
        self._caught_up = False
        self._handed = 0
        # Rows added in the current turn of the event loop, and who waits for each commit.
        self._batch: list[tuple[str, str, str, bytes, float, float]] = []
        self._batch_headers: list[dict[str, str]] = []  # the header form of each row in _batch
        self._waiters: list[asyncio.Future[None] | None] = []
        self.last_add = 0.0  # time.monotonic() of the last add batch (the drainer backs off)
        # Set when an add failed for lack of space; cleared when an add commits or rows are freed.
        self.disk_full = False

    @property
    def path(self) -> Path:
        return self._writer.path

    @property
    def commits(self) -> int:
        """Transactions committed since open (many publishes share one)."""
        return self._writer.commits

    @classmethod
    def open(
        cls,
        data_dir: Path,
        service: str,
        *,
        max_rows: int = 100_000,
        max_bytes: int | None = None,
        sync: OutboxSync = "full",
    ) -> Outbox:
        """Take a free outbox file under ``data_dir``, create the table, recover in-flight rows.

        ``max_bytes`` caps the file's size (SQLite's ``max_page_count``): past it, publishing
        raises OutboxFullError as on a full disk. ``sync``: see ``EventsConfig.outbox_sync``.
        """
        private_dir(data_dir)
        base = f"outbox-{_safe(service)}"
        for slot in range(1024):
            stem = base if slot == 0 else f"{base}.{slot}"
            lock_file = open_private(data_dir / f"{stem}.lock")
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock_file.close()
                continue
            writer = SqliteWriter(
                data_dir / f"{stem}.sqlite3", synchronous="FULL" if sync == "full" else "NORMAL"
            )
            try:
                rows = writer.start(functools.partial(_prepare, max_bytes=max_bytes))
            except BaseException as exc:
                writer.close()
                lock_file.close()
                if isinstance(exc, sqlite3.Error):
                    raise storage_error(writer.path, exc) from None
                raise
            return cls(writer, lock_file, max_rows, rows)
        raise ConfigError(f"no free outbox slot under {data_dir} for service {service!r}")

    @staticmethod
    def has_backlog(data_dir: Path, service: str) -> bool:
        """Whether an outbox file of ``service`` under ``data_dir`` still holds rows."""
        for path in data_dir.glob(f"outbox-{_safe(service)}*.sqlite3"):
            try:
                with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                    if conn.execute("SELECT 1 FROM outbox LIMIT 1").fetchone():
                        return True
            except sqlite3.Error:
                return True  # unreadable: let open() deal with it
        return False

    def set_wake(self, wake: Callable[[], None]) -> None:
        """``wake`` is called (from any thread) after new rows commit."""
        self._wake = wake

    def set_handoff(self, handoff: Handoff | None) -> None:
        """``handoff`` is called, in the writer thread, with rows committed already in flight
        (see the module docstring); it must pass them on (and call :meth:`taken`) or unclaim
        them. None: every add waits in the table."""
        self._handoff = handoff

    def taken(self, count: int) -> None:
        """The drainer took ``count`` handed-off rows (sent or unclaimed them)."""
        with self._rows_lock:
            self._handed -= count

    def close(self) -> None:
        self._writer.close()
        self._lock_file.close()

    @property
    def rows(self) -> int:
        """Rows in the outbox (pending, in flight and failed), including uncommitted adds."""
        return self._rows

    def oldest_age(self) -> float:
        """Seconds since the oldest row was added (0 when empty). Reads on its own connection,
        so any thread may ask (the telemetry gauge does, at metric collection)."""
        uri = f"file:{self.path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            (oldest,) = conn.execute("SELECT MIN(created_at) FROM outbox").fetchone()
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    def _reserve(self) -> None:
        with self._rows_lock:
            if self._rows >= self.max_rows:
                raise OutboxFullError(
                    f"outbox holds {self._rows} rows (max_outbox_rows={self.max_rows})"
                )
            self._rows += 1

    def _release(self, count: int) -> None:
        with self._rows_lock:
            self._rows -= count

    async def add(self, envelope: EventEnvelope, *, durable: bool = True) -> None:
        """Store ``envelope``; with ``durable`` return only after the commit. OutboxFullError when full."""
        headers, encoded = envelope.header_form()
        await self.add_row(
            envelope.id, envelope.name, headers, encoded, envelope.payload, durable=durable
        )

    def add_row(
        self,
        event_id: str,
        name: str,
        headers: dict[str, str],
        encoded: str,
        payload: bytes,
        *,
        durable: bool = True,
    ) -> Awaitable[None]:
        """:meth:`add` for a caller that already has the header form and its JSON
        (:func:`header_form`; the dict becomes the row's, handed to the drainer as it is).
        Reserves the row at once (OutboxFullError is raised here); the awaitable resolves after
        the commit.

        Adds made in one turn of the event loop go to the writer as one statement and are
        answered with one wake-up of the loop: per-row futures and thread hops were what kept
        durable publishing from reaching SQLite's own rate.
        """
        self._reserve()
        now = time.time()
        self._batch.append((event_id, name, encoded, payload, now, now))
        self._batch_headers.append(headers)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        if durable:
            self._waiters.append(waiter)
        else:
            waiter.set_result(None)
        if len(self._batch) == 1:
            loop.call_soon(self._flush, loop)
        return waiter

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        rows, forms, waiters = self._batch, self._batch_headers, self._waiters
        self._batch, self._batch_headers, self._waiters = [], [], []
        self.last_add = time.monotonic()

        def insert(conn: sqlite3.Connection) -> tuple[Handoff, list[int]] | None:
            # Decided in the writer thread, in transaction order with the claims.
            handoff = self._handoff
            hot = (
                handoff is not None and self._caught_up and self._handed + len(rows) <= HANDOFF_ROWS
            )
            if not hot:
                self._caught_up = False  # older rows wait in the table: later adds queue behind
            state = RowState.IN_FLIGHT if hot else RowState.PENDING
            seqs: list[int] = []
            step = _chunks(conn, 6, len(rows))
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                values = ",".join([f"(?, ?, ?, ?, ?, ?, {state})"] * len(chunk))
                cursor = conn.execute(
                    "INSERT INTO outbox (id, name, headers, payload, next_at, created_at, state)"
                    f" VALUES {values} RETURNING seq",
                    [value for row in chunk for value in row],
                )
                seqs.extend(seq for (seq,) in cursor)
            if handoff is None or not hot:
                return None
            seqs.sort()  # AUTOINCREMENT: rising in insert order; RETURNING has no order
            return handoff, seqs

        def committed(future: concurrent.futures.Future[tuple[Handoff, list[int]] | None]) -> None:
            error = future.exception() if not future.cancelled() else RuntimeError("cancelled")
            if error is not None:
                self._release(len(rows))
                if _is_full(error):
                    self.disk_full = True
                error = storage_error(self.path, error)
            else:
                self.disk_full = False
            if waiters:  # answered first: a publish never waits on the hand-off
                loop.call_soon_threadsafe(_answer, waiters, error)
            if error is not None:
                return
            handed = future.result()
            if handed is None:
                self._wake()
                return
            handoff, seqs = handed
            with self._rows_lock:
                self._handed += len(seqs)
            handoff([_hot_row(*row) for row in zip(seqs, rows, forms, strict=True)])

        self._writer.submit(insert).add_done_callback(committed)

    async def _run(self, op: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            return await self._writer.run(op)
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from None

    async def claim(self, limit: int) -> list[OutboxRow]:
        """Mark up to ``limit`` due rows in flight, oldest first, and return them."""
        now = time.time()

        def claim(conn: sqlite3.Connection) -> list[OutboxRow]:
            rows = conn.execute(
                f"UPDATE outbox SET state = {RowState.IN_FLIGHT} WHERE seq IN ("
                f" SELECT seq FROM outbox WHERE state = {RowState.PENDING} AND next_at <= ?"
                f" ORDER BY seq LIMIT ?) RETURNING {_ROW_COLUMNS}",
                (now, limit),
            ).fetchall()
            self._caught_up = len(rows) < limit
            rows.sort()  # RETURNING has no order; seq is unique and first
            return [_row(r) for r in rows]

        def claimed(future: concurrent.futures.Future[list[OutboxRow]]) -> None:
            if future.cancelled() or future.exception() is not None:
                self._caught_up = False  # rolled back: the rows it saw are pending again

        future = self._writer.submit(claim)
        future.add_done_callback(claimed)
        try:
            return await asyncio.wrap_future(future)
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from None

    async def next_due(self) -> float | None:
        """Unix time the earliest pending row is due, or None when nothing is pending."""

        def query(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                f"SELECT MIN(next_at) FROM outbox WHERE state = {RowState.PENDING}"
            ).fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._run(query)

    async def settle(
        self,
        delivered: Sequence[int] = (),
        rearm: Sequence[Rearm] = (),
        failed: Sequence[tuple[int, str]] = (),
    ) -> None:
        """Delete acknowledged rows, put retryable ones back to pending, mark rejected ones failed."""
        await asyncio.wrap_future(self.settle_nowait(delivered, rearm, failed))

    def settle_nowait(
        self,
        delivered: Sequence[int] = (),
        rearm: Sequence[Rearm] = (),
        failed: Sequence[tuple[int, str]] = (),
        *,
        lazy: bool = False,
    ) -> concurrent.futures.Future[None]:
        """:meth:`settle` without waiting: queued for the writer's next transaction (``lazy``:
        one that other work starts, or at most the writer's ``lazy_delay`` later)."""
        now = time.time()
        delivered = list(delivered)

        def settle(conn: sqlite3.Connection) -> None:
            step = _chunks(conn, 1, len(delivered))
            for start in range(0, len(delivered), step):
                chunk = delivered[start : start + step]
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk)
            conn.executemany(
                f"UPDATE outbox SET state = {RowState.PENDING}, attempts = attempts + 1,"
                " next_at = ?, last_error = ? WHERE seq = ?",
                [(now + r.delay, r.error, r.seq) for r in rearm],
            )
            conn.executemany(
                f"UPDATE outbox SET state = {RowState.FAILED}, attempts = attempts + 1,"
                " last_error = ? WHERE seq = ?",
                [(error, seq) for seq, error in failed],
            )

        def settled(future: concurrent.futures.Future[None]) -> None:
            if not future.cancelled() and future.exception() is None:
                self._release(len(delivered))
                if delivered:
                    self.disk_full = False  # deleted rows left free pages for new ones

        future = self._writer.submit(settle, lazy=lazy)
        future.add_done_callback(settled)
        return future

    def unclaim_nowait(self, seqs: Sequence[int]) -> concurrent.futures.Future[None]:
        """Rows claimed but never sent back to pending, due now, without counting an attempt."""
        seqs = list(seqs)

        def unclaim(conn: sqlite3.Connection) -> None:
            conn.executemany(
                f"UPDATE outbox SET state = {RowState.PENDING} WHERE seq = ?"
                f" AND state = {RowState.IN_FLIGHT}",
                [(seq,) for seq in seqs],
            )

        return self._writer.submit(unclaim)

    async def make_due(self) -> None:
        """Make every pending row due now (the broker is back; no need to sit out the ladder)."""

        def due(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"UPDATE outbox SET next_at = ? WHERE state = {RowState.PENDING} AND next_at > ?",
                (time.time(), time.time()),
            )

        await self._run(due)

    async def list(self, state: RowState | None = None, limit: int = 100) -> list[OutboxRow]:
        def query(conn: sqlite3.Connection) -> list[OutboxRow]:
            where = "" if state is None else f"WHERE state = {int(state)}"
            rows = conn.execute(
                f"SELECT {_ROW_COLUMNS} FROM outbox {where} ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
            return [_row(r) for r in rows]

        return await self._run(query)

    async def counts(self) -> dict[RowState, int]:
        def query(conn: sqlite3.Connection) -> dict[RowState, int]:
            counts = dict.fromkeys(RowState, 0)
            for state, count in conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
                counts[RowState(state)] = count
            return counts

        return await self._run(query)

    async def retry_failed(self, ids: Sequence[str] | None = None) -> int:
        """Failed rows (all, or those with these event ids) back to pending, due now."""

        def retry(conn: sqlite3.Connection) -> int:
            sql = (
                f"UPDATE outbox SET state = {RowState.PENDING}, attempts = 0, next_at = ?"
                f" WHERE state = {RowState.FAILED}"
            )
            if ids is None:
                return conn.execute(sql, (time.time(),)).rowcount
            return sum(
                conn.execute(sql + " AND id = ?", (time.time(), event_id)).rowcount
                for event_id in ids
            )

        count = await self._run(retry)
        if count:
            self._wake()
        return count

    async def discard_failed(self, ids: Sequence[str] | None = None) -> int:
        """Delete failed rows (all, or those with these event ids)."""

        def discard(conn: sqlite3.Connection) -> int:
            sql = f"DELETE FROM outbox WHERE state = {RowState.FAILED}"
            if ids is None:
                return conn.execute(sql).rowcount
            return sum(conn.execute(sql + " AND id = ?", (event_id,)).rowcount for event_id in ids)

        count = await self._run(discard)
        self._release(count)
        return count


def _hot_row(
    seq: int, row: tuple[str, str, str, bytes, float, float], headers: dict[str, str]
) -> OutboxRow:
    """A row just inserted in flight (an add's tuple: id, name, headers JSON, payload, times,
    and the header form it encodes)."""
    _, name, _, payload, _, created = row
    return OutboxRow(seq, name, headers, payload, RowState.IN_FLIGHT, 0, "", created)


def _answer(waiters: list[asyncio.Future[None] | None], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter is None or waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


def _prepare(conn: sqlite3.Connection, *, max_bytes: int | None) -> int:
    if max_bytes is not None:
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        conn.execute(f"PRAGMA max_page_count = {max(1, max_bytes // int(page_size))}")
    conn.executescript(_SCHEMA)
    conn.execute(f"UPDATE outbox SET state = {RowState.PENDING} WHERE state = {RowState.IN_FLIGHT}")
    row = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
    return int(row[0])


class OutboxAdmin:
    """``bridge.outbox``: inspect the outbox and act on rows the broker rejected for good."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    @property
    def path(self) -> Path:
        return self._outbox.path

    async def failed(self, limit: int = 100) -> list[OutboxRow]:
        return await self._outbox.list(RowState.FAILED, limit)

    async def pending(self, limit: int = 100) -> list[OutboxRow]:
        return await self._outbox.list(RowState.PENDING, limit)

    @property
    def disk_full(self) -> bool:
        """True after a publish found no space (it raised OutboxFullError), until an event is
        stored again or the drainer frees rows."""
        return self._outbox.disk_full

    async def counts(self) -> dict[str, int]:
        """Rows per state: ``{"pending": n, "in_flight": n, "failed": n}``."""
        return {state.name.lower(): n for state, n in (await self._outbox.counts()).items()}

    async def retry(self, event_ids: Sequence[str] | None = None) -> int:
        """Send failed rows again (all when ``event_ids`` is None); returns how many."""
        return await self._outbox.retry_failed(event_ids)

    async def discard(self, event_ids: Sequence[str] | None = None) -> int:
        """Delete failed rows (all when ``event_ids`` is None); returns how many."""
        return await self._outbox.discard_failed(event_ids)
