"""The Books service: implements the generated BooksHandler, serves it over gRPC and announces
each added book (``book.added``) to a subscriber in the same process.

python books.py 127.0.0.1:50061 CERT_DIR
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import runtime_lib as sb

from gen.bookshop_pb2 import Book, GetBookRequest
from gen.bookshop_sb import BookAdded, BooksHandler


class Books(BooksHandler):
    def __init__(self, bridge: sb.Bridge) -> None:
        self.bridge = bridge
        self.books: dict[str, Book] = {}

    async def get_book(self, request: GetBookRequest, ctx: sb.CallContext) -> Book:
        book = self.books.get(request.id)
        if book is None:
            raise sb.HandlerError("NO_SUCH_BOOK", f"no book {request.id!r}")
        return book

    async def add_book(self, request: Book, ctx: sb.CallContext) -> Book:
        self.books[request.id] = request
        await self.bridge.publish(BookAdded(book_id=request.id, title=request.title))
        return request


async def announce(event: BookAdded, ctx: sb.EventContext) -> None:
    print(f"books: new book {event.book_id}: {event.title}", flush=True)


async def main(address: str, certs: Path) -> None:
    # Mutual TLS: only services with a certificate from the CA in certs/ may call.
    tls = sb.TlsConfig.from_dir(certs, "books")
    bridge = sb.Bridge("books", listen=address, events="memory", tls=tls)
    bridge.serve(Books(bridge))
    bridge.subscribe(BookAdded, announce)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with bridge:
        print(f"books: serving on {bridge.address}", flush=True)
        await stop.wait()
    print("books: stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
