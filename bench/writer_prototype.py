"""An experiment for the outbox owner: the same durable insert with batch-level bookkeeping.

One writer thread, one ``executemany`` and one ``COMMIT`` per batch, and one
``call_soon_threadsafe`` per batch to resolve every publisher's future, instead of a savepoint,
a concurrent future and a loop wake-up per row. Same table, WAL, synchronous=FULL.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
import time
from pathlib import Path

from runtime_lib._ids import new_event_id

_SCHEMA = """
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, name TEXT NOT NULL,
    headers TEXT NOT NULL, payload BLOB NOT NULL, state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL);
CREATE INDEX outbox_due ON outbox (state, next_at, seq);
"""
_INSERT = (
    "INSERT INTO outbox (id, name, headers, payload, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?)"
)
Row = tuple[str, str, str, bytes, float, float]
Item = tuple[Row, "asyncio.Future[None]"]


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def _writer(
    path: Path, items: queue.SimpleQueue[Item | None], loop: asyncio.AbstractEventLoop
) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        while True:
            first = items.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 2000:
                try:
                    item = items.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    items.put(None)
                    break
                batch.append(item)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT, [row for row, _ in batch])
            conn.execute("COMMIT")
            loop.call_soon_threadsafe(_resolve, [future for _, future in batch])
    finally:
        conn.close()


async def prototype_rate(data_dir: Path, total: int, publishers: int, payload: bytes) -> float:
    """Durable inserts per second from ``publishers`` tasks through the batched writer."""
    loop = asyncio.get_running_loop()
    items: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
    thread = threading.Thread(target=_writer, args=(data_dir / "proto.sqlite3", items, loop))
    thread.start()
    headers = json.dumps({"sb-name": "bench.event", "sb-contract": "v2:" + "0" * 64})
    per_task = total // publishers

    async def publisher() -> None:
        for _ in range(per_task):
            future: asyncio.Future[None] = loop.create_future()
            now = time.time()
            items.put(((new_event_id(), "bench.event", headers, payload, now, now), future))
            await future

    try:
        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(publishers):
                group.create_task(publisher())
        return per_task * publishers / (time.perf_counter() - start)
    finally:
        items.put(None)
        await asyncio.to_thread(thread.join, 30)
