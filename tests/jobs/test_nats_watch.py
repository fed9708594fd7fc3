"""The one-shot watch on a real nats-server: it follows changes across a broker restart, which
drops its consumer (the watch re-creates it from the next change it has not seen)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import pytest
from nats.aio.client import Client

from runtime_lib._errors import ConnectionFailedError
from runtime_lib._jobs import JobStore
from runtime_lib._jobs.store import OneShot
from runtime_lib._nats_server import NatsServer

pytestmark = pytest.mark.timeout(120)

WAIT = 60.0  # an upper bound on waiting for a change, never a measured duration


@asynccontextmanager
async def _client(server: NatsServer) -> AsyncIterator[Client]:
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        yield nc
    finally:
        await nc.close()


async def _add(store: JobStore, once: OneShot) -> None:
    """Add ``once``, retried while the client reconnects (the publish times out meanwhile)."""
    for _ in range(30):
        try:
            await store.add_once(once)
            return
        except ConnectionFailedError:
            continue
    raise AssertionError("the client never got back to the broker")


async def test_the_watch_follows_changes_across_a_broker_restart(
    nats_server: NatsServer,
) -> None:
    async with _client(nats_server) as watcher, _client(nats_server) as writer:
        watching = await JobStore.on_nats("svc", watcher.jetstream())
        writing = await JobStore.on_nats("svc", writer.jetstream())
        first = OneShot("remind", "r1", 1, {"n": 1}, "id")
        await writing.add_once(first)
        watch = await watching.watch_once()
        changes = aiter(watch)
        assert watching.one_shot(await asyncio.wait_for(anext(changes), WAIT)) == (
            "remind",
            "r1",
            first,
        )

        nats_server.stop()
        nats_server.start()
        second = OneShot("remind", "r2", 2, {"n": 2}, "id")
        await _add(writing, second)
        await writing.remove_once("remind", "r1")
        seen = [watching.one_shot(await asyncio.wait_for(anext(changes), WAIT)) for _ in "ab"]
        await watch.close()
    assert seen == [("remind", "r2", second), ("remind", "r1", None)]
