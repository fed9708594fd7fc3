from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime_lib._events.config import EventsConfig
from runtime_lib._events.memory_bus import MemoryBus
from runtime_lib._events.runtime import EventsRuntime

_LIMITS = [f.name for f in dataclasses.fields(EventsConfig) if f.name != "broker"]

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
        """EventsConfig's fields among ``kwargs`` (``max_attempts=3``) go into its config."""
        options = {"data_dir": tmp_path / service, **defaults, **kwargs}
        limits = {name: options.pop(name) for name in _LIMITS if name in options}
        config = EventsConfig(broker=events, **limits)
        runtime = EventsRuntime(service=service, events=config, **options)
        made.append(runtime)
        return runtime

    try:
        yield make
    finally:
        for runtime in made:
            await runtime.stop()
