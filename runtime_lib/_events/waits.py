"""A bounded wait that keeps a cancel, for the loops that must stop when told (the drainer, the
consumers' fetches): ``asyncio.wait_for`` on Python 3.11 swallows a cancel that lands in the same
turn as the awaited thing completes, leaving a stopping task running."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def within(awaitable: Awaitable[object], seconds: float) -> bool:
    """Whether ``awaitable`` completed within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except TimeoutError:
        return False
    return True
