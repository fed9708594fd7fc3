"""Fixtures shared across test areas."""

from __future__ import annotations

import contextlib
import os
import signal
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
        _stop_brokers_under(tmp_path_factory.getbasetemp())


_EMBEDDED = (b"/nats-server", b"/temporal")


def _stop_brokers_under(root: Path) -> None:
    """An embedded broker (or Temporal dev server) outlives a test whose last user was killed (-9)
    or never stopped its bridge: by design it serves the next process. At the end of the session
    nothing is next, so any nats-server or temporal whose store lies in this session's temp
    folders is stopped."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args[0].endswith(_EMBEDDED) and str(root).encode() in b" ".join(args):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(cmdline.parent.name), signal.SIGTERM)


@pytest.fixture(params=["grpcio", "grpclib"])
def transport(request: pytest.FixtureRequest) -> sb.NetworkTransport:
    """The network transport of the calling bridge: a test taking it runs on both."""
    name: sb.NetworkTransport = request.param
    return name


@pytest.fixture(params=["grpcio", "grpclib"])
def server_transport(request: pytest.FixtureRequest) -> sb.NetworkTransport:
    """The transport of the serving bridge (its gRPC server library): a test taking it runs
    against both servers."""
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
