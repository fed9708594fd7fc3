"""A real uvicorn server on loopback for an ASGI app, in this event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from tests.events.helpers import wait_until


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` (an ASGI app, or a ``uvicorn.Config`` holding one: HTTPS if it has TLS) on
    a socket bound to a free loopback port; yield its base URL. The socket is bound before the server
    starts, so the URL is known (and published) without a race."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = (
        app
        if isinstance(app, uvicorn.Config)
        else uvicorn.Config(app, lifespan="off", log_level="warning")
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_until(lambda: server.started or task.done(), what="uvicorn to start")
        if task.done():
            task.result()
        yield f"{'https' if config.is_ssl else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
