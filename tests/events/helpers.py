from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], limit: float = 10.0, what: str = ""
) -> None:
    """Poll ``predicate`` until true; fail the test after ``limit`` seconds."""
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
