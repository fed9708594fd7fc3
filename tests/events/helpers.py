from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from runtime_lib._events.outbox import OutboxAdmin


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], limit: float = 120.0, what: str = ""
) -> None:
    """Poll ``predicate`` until true. ``limit`` only turns a hang into a failure naming what was
    awaited: it is far above any healthy wait, so a loaded machine does not fail the test."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > end:
            pytest.fail(f"timed out after {limit}s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


async def wait_drained(outbox: OutboxAdmin) -> None:
    """Until every row has left ``outbox``: a delivered row is deleted by a later transaction
    (settles wait to share a publish's commit), so this follows the handler's receipt."""

    async def empty() -> bool:
        return await outbox.counts() == {"pending": 0, "in_flight": 0, "failed": 0}

    await wait_until(empty, what="the outbox to empty")
