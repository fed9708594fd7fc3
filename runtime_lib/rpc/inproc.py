"""The ``inproc`` transport: a call to a handler served by the same bridge, without a socket.

Semantics match the gRPC path: messages are copied (serialised and parsed, so neither side shares
mutable state with the other), the deadline is enforced, the handler runs in its own task (so the
deadline it inherits never leaks into the caller) and errors are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from typing import TypeVar

from google.protobuf.message import Message

from runtime_lib.errors import CallTimeoutError
from runtime_lib.rpc.context import CallContext
from runtime_lib.rpc.dispatch import Dispatcher, Route

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
