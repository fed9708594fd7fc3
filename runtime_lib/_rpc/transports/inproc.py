"""The ``inproc`` transport: a call to a handler served by the same bridge, without a socket.

Semantics match the gRPC path: messages are copied (serialised and parsed, so neither side shares
mutable state with the other), the deadline is enforced, the handler runs in its own task (so the
deadline it inherits never leaks into the caller), errors are the same, and the headers and
trailers the handler set reach the caller's ``reply_metadata``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from typing import TypeVar

from google.protobuf.message import Message

from runtime_lib._errors import CallTimeoutError
from runtime_lib._rpc.context import CallContext
from runtime_lib._rpc.dispatch import Dispatcher, Route
from runtime_lib._rpc.options import ReplyMetadata
from runtime_lib._rpc.spec import Cardinality
from runtime_lib._rpc.transports.base import Outgoing, OutgoingCall

M = TypeVar("M", bound=Message)

_END = object()


def _copy(cls: type[M], message: Message) -> M:
    return cls.FromString(message.SerializeToString())


def _left(ctx: CallContext) -> float:
    return (ctx.deadline or time.monotonic()) - time.monotonic()


async def _copied(cls: type[M], messages: AsyncIterable[Message]) -> AsyncIterator[M]:
    async for message in messages:
        yield _copy(cls, message)


async def _bounded(ctx: CallContext, work: Awaitable[Message]) -> Message:
    task = asyncio.ensure_future(work)
    try:
        reply: Message = await asyncio.wait_for(task, max(0.0, _left(ctx)))
    except TimeoutError:
        raise CallTimeoutError(f"{ctx.method} did not finish before its deadline") from None
    return reply


async def unary(
    dispatcher: Dispatcher, route: Route, request: Message, ctx: CallContext
) -> Message:
    work = dispatcher.unary(route, _copy(route.method.request, request), ctx)
    reply: Message = _copy(route.method.reply, await _bounded(ctx, work))
    return reply


async def client_stream(
    dispatcher: Dispatcher, route: Route, requests: AsyncIterable[Message], ctx: CallContext
) -> Message:
    work = dispatcher.client_stream(route, _copied(route.method.request, requests), ctx)
    reply: Message = _copy(route.method.reply, await _bounded(ctx, work))
    return reply


def server_stream(
    dispatcher: Dispatcher, route: Route, request: Message, ctx: CallContext
) -> AsyncIterator[Message]:
    source = dispatcher.server_stream(route, _copy(route.method.request, request), ctx)
    return _pumped(route, source, ctx)


def bidi_stream(
    dispatcher: Dispatcher, route: Route, requests: AsyncIterable[Message], ctx: CallContext
) -> AsyncIterator[Message]:
    source = dispatcher.bidi_stream(route, _copied(route.method.request, requests), ctx)
    return _pumped(route, source, ctx)


async def _pumped(
    route: Route, source: AsyncIterator[Message], ctx: CallContext
) -> AsyncIterator[Message]:
    """Run the handler's stream in its own task and hand its items over one at a time."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(item)
            await queue.put(_END)
        except Exception as exc:
            await queue.put(exc)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), max(0.0, _left(ctx)))
            except TimeoutError:
                raise CallTimeoutError(f"{ctx.method} did not finish before its deadline") from None
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, Message)
            yield _copy(route.method.reply, item)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class InprocConnection:
    """The :class:`~runtime_lib._rpc.transports.base.Connection` to this bridge's own handlers;
    the invoker checked the route and contract before choosing it."""

    def __init__(self, dispatcher: Dispatcher, caller: str) -> None:
        self._dispatcher = dispatcher
        self._caller = caller

    def is_ready(self) -> bool:
        return True

    async def ready(self, within: float) -> None:
        """Always connected."""

    async def unary(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> Message:
        route = self._route(call)
        ctx = call.context(self._caller)
        try:
            if route.method.cardinality is Cardinality.UNARY:
                assert isinstance(outgoing, Message)
                return await unary(self._dispatcher, route, outgoing, ctx)
            assert not isinstance(outgoing, Message)
            return await client_stream(self._dispatcher, route, outgoing, ctx)
        finally:
            _fill(call.reply_metadata, ctx)

    def stream(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> InprocStream:
        route = self._route(call)
        ctx = call.context(self._caller)
        if route.method.cardinality is Cardinality.SERVER_STREAMING:
            assert isinstance(outgoing, Message)
            replies = server_stream(self._dispatcher, route, outgoing, ctx)
        else:
            assert not isinstance(outgoing, Message)
            replies = bidi_stream(self._dispatcher, route, outgoing, ctx)
        return InprocStream(replies, ctx, call.reply_metadata)

    async def close(self) -> None:
        """Nothing to close: the handlers belong to the bridge."""

    def _route(self, call: OutgoingCall) -> Route:
        route = self._dispatcher.route(call.method.path)
        assert route is not None, "the invoker checks the route before choosing inproc"
        return route


class InprocStream:
    """The replies of an in-process streaming call."""

    def __init__(
        self, replies: AsyncIterator[Message], ctx: CallContext, md: ReplyMetadata | None
    ) -> None:
        self._replies = replies
        self._ctx = ctx
        self._md = md

    async def read(self) -> Message | None:
        try:
            reply = await anext(self._replies, None)
        except BaseException:
            _fill(self._md, self._ctx)
            raise
        if reply is None:
            _fill(self._md, self._ctx)
        elif self._md is not None:
            self._md.headers.update(self._ctx.reply_headers)  # trailers come with the end
        return reply

    async def close(self) -> None:
        await self._replies.aclose()  # type: ignore[attr-defined]


def _fill(md: ReplyMetadata | None, ctx: CallContext) -> None:
    if md is not None:
        md.headers.update(ctx.reply_headers)
        md.trailers.update(ctx.reply_trailers)
