"""Fixtures shared across test areas."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import runtime_lib as sb
from runtime_lib._events.data_dir import ENV_VAR
from runtime_lib._nats_server import NatsServer


@pytest.fixture(scope="session", autouse=True)
def hermetic_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every bridge without ``data_dir=`` (and every subprocess) keeps its event state in a
    per-session temp folder, never in the real per-user state location."""
    path = tmp_path_factory.mktemp("sb-data")
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous


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
