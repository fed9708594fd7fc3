from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime_lib.events import MemoryBus


@pytest.fixture
async def memory_bus() -> AsyncIterator[MemoryBus]:
    yield MemoryBus()
