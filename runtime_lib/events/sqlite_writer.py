"""A thread that owns one SQLite connection and group-commits whatever work is queued.

Every operation is a function of the connection. The thread takes all queued operations at once,
runs them in one transaction (each inside its own savepoint, so one failing operation does not
undo the others) and commits once: many concurrent publishes cost one ``fsync``. Results are
delivered only after the commit, so an awaited result means the write is durable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

Op = Callable[[sqlite3.Connection], Any]
_Item = tuple[Op, "concurrent.futures.Future[Any]"]


class SqliteWriter:
    def __init__(self, path: Path, *, max_batch: int = 2000) -> None:
        self.path = path
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.commits = 0

    def start(self, setup: Callable[[sqlite3.Connection], T]) -> T:
        """Open the connection and run ``setup`` on it (outside any batch); return its result."""
        ready: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(setup, ready), name=f"sqlite-writer:{self.path.name}"
        )
        self._thread.start()
        result: T = ready.result(timeout=30)
        return result

    def submit(self, op: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        """Queue ``op``; the future resolves after the transaction holding it has committed."""
        if self._closed:
            raise RuntimeError("sqlite writer is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((op, future))
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
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss, which is what "durable" promises the caller.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=5000")
            ready.set_result(setup(conn))
        except BaseException as exc:
            conn.close()
            ready.set_exception(exc)
            return
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                batch: list[_Item] = []
                if first is None:
                    stop = True
                else:
                    batch.append(first)
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                if batch:
                    self._commit(conn, batch)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future in batch:
                if not future.set_running_or_notify_cancel():
                    outcomes.append((False, None))
                    continue
                conn.execute("SAVEPOINT op")
                try:
                    outcomes.append((True, op(conn)))
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    outcomes.append((False, exc))
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _, future in batch:
                if future.running():
                    future.set_exception(exc)
            return
        for (ok, value), (_, future) in zip(outcomes, batch, strict=False):
            if not future.running():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
