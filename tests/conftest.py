"""Fixtures shared across test areas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import runtime_lib as sb
from runtime_lib.nats_server import NatsServer


@pytest.fixture(params=["grpcio", "grpclib"])
def transport(request: pytest.FixtureRequest) -> sb.NetworkTransport:
    """The network transport of the calling bridge: a test taking it runs on both."""
    name: sb.NetworkTransport = request.param
    return name


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A real ``nats-server -js`` on a free port with its store under tmp_path."""
    server = NatsServer(store_dir=tmp_path / "nats-store").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url
