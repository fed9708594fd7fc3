"""The calls a server has taken and not finished (status not sent), so that a drain waits for
their replies to leave, not only for their handlers to return. Both servers count with it."""

from __future__ import annotations

import asyncio
import contextlib


class OpenCalls:
    def __init__(self) -> None:
        self._count = 0
        self._closed: asyncio.Event | None = None  # only while wait_closed() waits

    def opened(self) -> None:
        self._count += 1

    def closed(self, *_call: object) -> None:
        """One call finished (also usable as a done callback, whatever it is passed)."""
        self._count -= 1
        if not self._count and self._closed is not None:
            self._closed.set()

    def __enter__(self) -> None:
        self.opened()

    def __exit__(self, *_exc: object) -> None:
        self.closed()

    async def wait_closed(self, within: float) -> None:
        """Return once every call finished, or ``within`` seconds passed (then stop anyway)."""
        if not self._count:
            return
        self._closed = closed = asyncio.Event()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), max(0.0, within))
        finally:
            self._closed = None
