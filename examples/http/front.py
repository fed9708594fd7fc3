"""The HTTP front: a FastAPI app with the bridge's middleware, one hand-written route calling
the Books service through its typed client, and the generated JSON gateway mounted at /api.

python front.py BOOKS_ADDRESS PORT CERT_DIR

Served over HTTPS with the bridge's certificate: a client needs a certificate from the same CA,
and ``sb_http.caller`` names the service it identifies.
"""

import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI

import runtime_lib as sb
import runtime_lib.http as sb_http
from runtime_lib.http.uvicorn_tls import uvicorn_config

from gen.bookshop_gateway import books_gateway
from gen.bookshop_pb2 import GetBookRequest
from gen.bookshop_sb import BooksClient

# No `from __future__ import annotations` here: FastAPI reads the routes' annotations.

Books = Annotated[BooksClient, Depends(sb_http.client(BooksClient, service="books"))]
Caller = Annotated[str | None, Depends(sb_http.caller)]


def make_bridge(books_address: str, certs: Path) -> sb.Bridge:
    tls = sb.TlsConfig.from_dir(certs, "front")
    return sb.Bridge("front", registry={"books": [books_address]}, events="memory", tls=tls)


def make_app(bridge: sb.Bridge) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bridge:
            yield

    app = FastAPI(title="bookshop front", lifespan=lifespan)
    # Every request: a span joining the caller's traceparent, and a deadline (sb-timeout-ms,
    # default 10 s) that the calls below inherit.
    app.add_middleware(sb_http.BridgeMiddleware, bridge=bridge, default_timeout="10s")

    @app.get("/shelf/{book_id}")
    async def shelf(book_id: str, books: Books) -> dict[str, str]:
        book = await books.get_book(GetBookRequest(id=book_id))
        return {"shelf label": f"{book.title}, by {book.author}"}

    # Who calls: the service named by the client's certificate (never a header).
    @app.get("/whoami")
    async def whoami(caller: Caller) -> dict[str, str | None]:
        return {"caller": caller}

    # The generated gateway: GET /api/v1/books/{id}, POST /api/v1/books, /api/openapi.json.
    app.mount("/api", books_gateway(bridge.client(BooksClient, service="books")))
    return app


def main(books_address: str, port: int, certs: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(128)  # requests wait here until uvicorn accepts them
    print(f"front: https://127.0.0.1:{port}", flush=True)
    bridge = make_bridge(books_address, certs)
    # HTTPS with the bridge's certificate, client certificates from its CA required.
    server = uvicorn.Server(uvicorn_config(make_app(bridge), bridge, log_level="warning"))
    server.run(sockets=[sock])  # until SIGTERM


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
