"""A thread that owns one SQLite connection and group-commits whatever work is queued.

Every operation is a function of the connection. The thread takes all queued operations at once,
runs them in one transaction (each inside its own savepoint, so one failing operation does not
undo the others) and commits once: many concurrent publishes cost one ``fsync``. Results are
delivered only after the commit, so an awaited result means the write is durable.

A lazy operation (one nobody waits on, like deleting delivered rows) waits up to ``lazy_delay``
for other work to share its transaction rather than paying an ``fsync`` of its own, which would
hold up the next group of publishes by as much.

Some failures (``SQLITE_FULL``, I/O errors) make SQLite roll back the whole transaction, not just
the savepoint: the failing operation then fails alone and the others run again in a new
transaction, so a publish that finds the disk full cannot take the drainer's deletes down with it.
A failed ``COMMIT`` is retried one operation per transaction for the same reason.

A full disk would also stop the writes that free space (marking and deleting rows need room in
the WAL, and a checkpoint needs room in the database file), so the writer keeps a small reserve
file beside the database: on ``SQLITE_FULL`` it deletes the reserve and checkpoints, which gives
those writes room; the reserve is laid down again once a write has succeeded.

The thread is a daemon: a process whose bridge was dropped without ``stop()`` still exits (a
commit is atomic, so being cut off loses only what was never acknowledged).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from runtime_lib._private_files import private_file

T = TypeVar("T")

Op = Callable[[sqlite3.Connection], Any]
_Item = tuple[Op, "concurrent.futures.Future[Any]", bool]  # op, its result, lazy


class SqliteWriter:
    def __init__(
        self,
        path: Path,
        *,
        max_batch: int = 2000,
        reserve: int = 256 * 1024,
        lazy_delay: float = 0.02,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._lazy_delay = lazy_delay
        self._reserve_path = path.with_name(path.name + ".reserve")
        self._reserve_size = reserve
        self._reserve_released = True  # laid down after the first commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.commits = 0

    def start(self, setup: Callable[[sqlite3.Connection], T]) -> T:
        """Open the connection and run ``setup`` on it (outside any batch); return its result."""
        ready: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run,
            args=(setup, ready),
            name=f"sqlite-writer:{self.path.name}",
            daemon=True,
        )
        self._thread.start()
        result: T = ready.result(timeout=30)
        return result

    def submit(
        self, op: Callable[[sqlite3.Connection], T], *, lazy: bool = False
    ) -> concurrent.futures.Future[T]:
        """Queue ``op``; the future resolves after the transaction holding it has committed.
        ``lazy``: the transaction may start up to ``lazy_delay`` later, to take other work along."""
        if self._closed:
            raise RuntimeError("sqlite writer is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((op, future, lazy))
        return future

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.wrap_future(self.submit(op))

    def close(self, timeout: float = 30.0) -> None:
        """Finish queued work, then close the connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, setup: Op, ready: concurrent.futures.Future[Any]) -> None:
        try:
            conn = sqlite3.connect(private_file(self.path), isolation_level=None)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL (the default): a commit survives power loss; NORMAL: it survives the process
            # (EventsConfig.outbox_sync says which the user chose).
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=5000")
            ready.set_result(setup(conn))
        except BaseException as exc:
            conn.close()
            ready.set_exception(exc)
            return
        try:
            stop = False
            while not stop:
                batch: list[_Item] = []
                stop = self._take(batch, self._queue.get())
                if batch and not stop and all(lazy for _, _, lazy in batch):
                    stop = self._wait_for_company(batch)
                if batch:
                    self._commit(conn, batch)
        finally:
            conn.close()

    def _take(self, batch: list[_Item], first: _Item | None) -> bool:
        """Add ``first`` and whatever else is queued (up to ``max_batch``) to ``batch``; True
        when the close marker came."""
        item = first
        while True:
            if item is None:
                return True
            if item[1].set_running_or_notify_cancel():
                batch.append(item)
            if len(batch) >= self._max_batch:
                return False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False

    def _wait_for_company(self, batch: list[_Item]) -> bool:
        """Only lazy work: wait up to ``lazy_delay`` for other work to join it."""
        deadline = time.monotonic() + self._lazy_delay
        while all(lazy for _, _, lazy in batch) and len(batch) < self._max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False
            if self._take(batch, item):
                return True
        return False

    def _commit(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        """Run ``batch`` (futures already running) and resolve every future."""
        while batch:
            try:
                outcomes = _transaction(conn, batch)
            except _Aborted as aborted:
                batch[aborted.index][1].set_exception(aborted.error)
                self._on_failure(conn, aborted.error)
                batch = batch[: aborted.index] + batch[aborted.index + 1 :]
                continue
            except Exception as exc:
                self._on_failure(conn, exc)
                if len(batch) == 1:
                    batch[0][1].set_exception(exc)
                else:
                    for item in batch:
                        self._commit(conn, [item])
                return
            self.commits += 1
            if self._reserve_released:
                self._lay_reserve()
            for (ok, value), (_, future, _) in zip(outcomes, batch, strict=True):
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            return

    def _on_failure(self, conn: sqlite3.Connection, error: Exception) -> None:
        """On a full disk, free the reserve and move the WAL into the database."""
        if not (isinstance(error, sqlite3.Error) and error.sqlite_errorcode == sqlite3.SQLITE_FULL):
            return
        self._reserve_path.unlink(missing_ok=True)
        self._reserve_released = True
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _lay_reserve(self) -> None:
        try:
            with open(private_file(self._reserve_path), "r+b") as reserve:
                os.posix_fallocate(reserve.fileno(), 0, self._reserve_size)
        except OSError as exc:
            self._reserve_path.unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC:
                return  # no room yet: the next commit tries again
            # A filesystem without fallocate: go without a reserve rather than retry per commit.
        self._reserve_released = False


class _Aborted(Exception):
    """Operation ``index`` failed and SQLite rolled back the whole transaction with it."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


def _transaction(conn: sqlite3.Connection, batch: list[_Item]) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for index, (op, _, _) in enumerate(batch):
            conn.execute("SAVEPOINT op")
            try:
                outcomes.append((True, op(conn)))
            except Exception as exc:
                if not conn.in_transaction:
                    raise _Aborted(index, exc) from exc
                conn.execute("ROLLBACK TO op")
                outcomes.append((False, exc))
            conn.execute("RELEASE op")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes
