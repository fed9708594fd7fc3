"""The handlers behind the HTTP tests: ``Library`` answers every binding of library.proto,
``Loans`` publishes ``book.checked_out`` and reports the deadline it inherited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import runtime_lib as sb
from tests._generated.http_library import library_pb2 as pb
from tests._generated.http_library.library_sb import BookCheckedOut, LibraryHandler, LoansHandler


class Library(LibraryHandler):  # type: ignore[misc]  # generated when the tests start
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.never = asyncio.Event()  # what a handler that must hit its deadline waits for

    async def get_book(self, request: pb.GetBookRequest, ctx: sb.CallContext) -> pb.Book:
        self.calls.append("GetBook")
        if request.name.endswith("/missing"):
            raise sb.HandlerError("BOOK_NOT_FOUND", f"no book {request.name}")
        title = f"title of {request.name}" + (" (reviewed)" if request.with_reviews else "")
        return pb.Book(name=request.name, title=title, pages=12345678901, genre=pb.POETRY)

    async def update_book(self, request: pb.UpdateBookRequest, ctx: sb.CallContext) -> pb.Book:
        self.calls.append("UpdateBook")
        book = pb.Book()
        book.CopyFrom(request.book)
        book.name = f"shelves/{book.shelf.id}/books/{book.id} mask={request.update_mask}"
        return book

    async def create_shelf(self, request: pb.Shelf, ctx: sb.CallContext) -> pb.Shelf:
        self.calls.append("CreateShelf")
        return pb.Shelf(id=request.id or "new", theme=request.theme)

    async def search_books(self, request: pb.SearchRequest, ctx: sb.CallContext) -> pb.SearchReply:
        self.calls.append("SearchBooks")
        return pb.SearchReply(echo=request)

    async def archive_shelf(
        self, request: pb.ArchiveRequest, ctx: sb.CallContext
    ) -> pb.ArchiveReply:
        self.calls.append("ArchiveShelf")
        return pb.ArchiveReply(archived=[request.shelf, request.reason], count=2)

    async def delete_book(self, request: pb.DeleteBookRequest, ctx: sb.CallContext) -> pb.Book:
        self.calls.append("DeleteBook")
        return pb.Book(id=request.id, shelf=pb.Shelf(id=request.shelf))

    async def list_books(
        self, request: pb.ListBooksRequest, ctx: sb.CallContext
    ) -> AsyncIterator[pb.Book]:
        self.calls.append("ListBooks")
        for number in range(request.count):
            yield pb.Book(id=str(number), shelf=pb.Shelf(id=request.shelf))
        if request.fail_with:
            raise sb.HandlerError(request.fail_with, "the shelf fell over")

    async def fail(self, request: pb.FailRequest, ctx: sb.CallContext) -> pb.Book:
        self.calls.append("Fail")
        if request.code == "HANDLER":
            raise sb.HandlerError(request.handler_code, "refused for a reason")
        if request.code == "NOT_FOUND":
            raise NotImplementedError
        if request.code == "TIMEOUT":
            await self.never.wait()
        raise RuntimeError("crashed reading /srv/secret/path")

    async def ping(self, request: pb.Shelf, ctx: sb.CallContext) -> pb.Shelf:
        return request


class Loans(LoansHandler):  # type: ignore[misc]  # generated when the tests start
    def __init__(self, bridge: sb.Bridge) -> None:
        self.bridge = bridge

    async def check_out(self, request: pb.CheckOutRequest, ctx: sb.CallContext) -> pb.CheckOutReply:
        await self.bridge.publish(BookCheckedOut(name=request.name, reader=request.reader))
        remaining = ctx.time_remaining()
        return pb.CheckOutReply(
            loan_id=f"loan-{request.name}", remaining_seconds=-1 if remaining is None else remaining
        )
