"""Test fixture code: a Bridge served from an event loop on a thread of its own, so that sync
callers (``SyncBridge`` clients) in the test's own thread can block on it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

import runtime_lib as sb

T = TypeVar("T")


def free_address() -> str:
    """A loopback address nothing listens on (its port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


class ServedInThread:
    """``with ServedInThread(bridge) as served:`` starts ``bridge`` on its loop thread and stops
    it on exit; ``served.address`` is where it listens."""

    def __init__(self, bridge: sb.Bridge) -> None:
        self.bridge = bridge
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def address(self) -> str:
        return self.bridge.address

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def call(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the server's loop (an asyncio.Event's set, say)."""
        self.loop.call_soon_threadsafe(fn)

    def __enter__(self) -> ServedInThread:
        self._thread.start()
        self.run(self.bridge.start())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.run(self.bridge.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()
