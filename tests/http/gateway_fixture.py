"""The generated Library gateway served by a real uvicorn, for the gateway tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

import runtime_lib as sb
import runtime_lib.http as sb_http
from tests._generated.http_library.library_gateway import library_gateway
from tests._generated.http_library.library_sb import LibraryClient

from .library_service import Library
from .serving import serving

PAGE_ORIGIN = "http://page.test"


@dataclass
class Served:
    http: httpx.AsyncClient
    handler: Library
    url: str


@contextlib.asynccontextmanager
async def served_gateway(tmp_path: Path, *, remote: bool = False) -> AsyncIterator[Served]:
    """The gateway of a bridge serving ``Library`` itself (the handler runs in process), or,
    with ``remote``, of a front bridge calling it over gRPC."""
    handler = Library()
    library = sb.Bridge("library", events="memory", data_dir=tmp_path / "library")
    library.serve(handler)
    async with library:
        front = (
            sb.Bridge("front", registry={"library": [library.address]}, events="memory")
            if remote
            else library
        )
        async with front:
            client = front.client(LibraryClient, service="library")
            gateway = library_gateway(client, cors_origins=[PAGE_ORIGIN])
            app = sb_http.BridgeMiddleware(gateway, bridge=front)
            async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
                yield Served(http, handler, url)
            handler.never.set()
