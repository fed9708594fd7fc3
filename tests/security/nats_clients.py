"""nats-py clients of a secured broker for the permission tests: connected with a service's
certificate as a bridge with ``tls=`` connects, collecting the violations the server reports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from runtime_lib._security.nats_auth import connect_options
from runtime_lib._security.tls import TlsConfig, TlsFiles

from .conftest import Endpoint, tls_url

WAIT = 30.0  # an upper bound on waiting for an event, never a measured duration


class Conn:
    """A nats-py connection that collects the server's permission errors."""

    def __init__(self) -> None:
        self.nc: Client = Client()
        self.errors: list[str] = []
        self._changed = asyncio.Event()

    async def on_error(self, exc: Exception) -> None:
        self.errors.append(str(exc))
        self._changed.set()

    async def denied(self, subject: str, kind: str = "publish") -> None:
        """Wait for the server to report a violation on ``subject``."""
        # nats-py lowercases the server's error text.
        wanted = f'permissions violation for {kind} to "{subject}"'.lower()
        while not any(wanted in e.lower() for e in self.errors):
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), WAIT)

    async def refused(self, request: Awaitable[Any], subject: str) -> None:
        """Run a request the server must refuse: it reports the violation and never answers."""
        task = asyncio.ensure_future(request)
        try:
            await self.denied(subject)
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


@contextlib.asynccontextmanager
async def connect(server: Endpoint, cert_dir: Path, service: str) -> AsyncIterator[Conn]:
    conn = Conn()
    options = connect_options(TlsFiles(TlsConfig.from_dir(cert_dir, service)))
    await conn.nc.connect(tls_url(server), error_cb=conn.on_error, allow_reconnect=False, **options)
    try:
        yield conn
    finally:
        await conn.nc.close()


async def connect_fails(server: Endpoint, **options: Any) -> str:
    """The error text of a connection attempt that must fail."""
    nc = Client()
    try:
        await nc.connect(
            tls_url(server), allow_reconnect=False, max_reconnect_attempts=0, **options
        )
    except Exception as exc:
        return str(exc).lower()
    await nc.close()
    raise AssertionError("connected")
