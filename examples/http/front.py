"""The HTTP front: a FastAPI app with the bridge's middleware, one hand-written route calling
the Books service through its typed client, and the generated JSON gateway mounted at /api.

python front.py BOOKS_ADDRESS PORT
"""

import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI

import runtime_lib as sb
import runtime_lib.http as sb_http

from gen.bookshop_gateway import books_gateway
from gen.bookshop_pb2 import GetBookRequest
from gen.bookshop_sb import BooksClient

# No `from __future__ import annotations` here: FastAPI reads the routes' annotations.

Books = Annotated[BooksClient, Depends(sb_http.client(BooksClient, service="books"))]


def make_app(books_address: str) -> FastAPI:
    bridge = sb.Bridge("front", registry={"books": [books_address]}, events="memory")

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

    # The generated gateway: GET /api/v1/books/{id}, POST /api/v1/books, /api/openapi.json.
    app.mount("/api", books_gateway(bridge.client(BooksClient, service="books")))
    return app


def main(books_address: str, port: int) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(128)  # requests wait here until uvicorn accepts them
    print(f"front: http://127.0.0.1:{port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(make_app(books_address), log_level="warning"))
    server.run(sockets=[sock])  # until SIGTERM


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
