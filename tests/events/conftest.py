from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime_lib.events import EventsRuntime, MemoryBus

Factory = Callable[..., EventsRuntime]


@pytest.fixture
async def memory_bus() -> AsyncIterator[MemoryBus]:
    yield MemoryBus()


@contextlib.asynccontextmanager
async def runtime_factory(tmp_path: Path, events: Any, **defaults: Any) -> AsyncIterator[Factory]:
    """``make(service, **options)`` builds EventsRuntimes on ``events``, each with its own
    data_dir under tmp_path; all are stopped at the end."""
    made: list[EventsRuntime] = []

    def make(service: str, **kwargs: Any) -> EventsRuntime:
        options = {"events": events, "data_dir": tmp_path / service, **defaults, **kwargs}
        runtime = EventsRuntime(service=service, **options)
        made.append(runtime)
        return runtime

    try:
        yield make
    finally:
        for runtime in made:
            await runtime.stop()
