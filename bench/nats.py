"""A nats-server with JetStream for the event benchmarks, and the bench event to publish."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.procs import Server
from runtime_lib._nats_server import NatsServer


@contextlib.contextmanager
def nats_server(store: Path) -> Iterator[str]:
    """The ``nats://127.0.0.1:<port>`` URL of a fresh server, stopped on exit."""
    with nats_server_process(store) as server:
        yield server.address


@contextlib.contextmanager
def nats_server_process(store: Path) -> Iterator[Server]:
    """A fresh server: its URL as ``address`` and its pid (whose CPU a bench reads); stopped on
    exit."""
    server = NatsServer(store)
    server.start()
    assert server.process is not None
    try:
        yield Server(server.url, server.process.pid)
    finally:
        server.stop()


def small_event(module: ModuleType, n: int) -> Any:
    """A typical small event: ids, an amount, a nested money, two tags, a Timestamp."""
    return module.OrderPlaced(
        order_id=f"o-{n}",
        customer_id="c-4711",
        total=4200,
        status=module.Status.STATUS_OK,
        amount=module.Money(units=4200, currency="EUR"),
        tags=["web", "eu"],
        placed_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    )
