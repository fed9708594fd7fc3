"""The grpcio transport's two unary paths: grpc.aio's call object awaited in the caller's task
(the default, runtime_lib/_rpc/transports/grpcio_direct.py) and grpc.aio's public API (taken
when grpcio's internals differ). Callers get the same replies, errors, metadata and cancellation
from both; the rest of the suite runs on the direct one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import grpc
import pytest
from echo_service import SDK, make_handler, pb, until
from h2_peer import GRPC_HEADERS, H2Peer

import runtime_lib as sb
from runtime_lib._rpc.transports import grpcio, grpcio_direct

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=["direct", "public"])
def unary_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Which path the calling bridge's unary calls take; checks afterwards that they took it."""
    public_calls = 0
    public_unary = grpcio.GrpcioConnection._public_unary

    async def counted(self: Any, *args: Any) -> Any:
        nonlocal public_calls
        public_calls += 1
        return await public_unary(self, *args)

    monkeypatch.setattr(grpcio.GrpcioConnection, "_public_unary", counted)
    if request.param == "public":
        monkeypatch.setattr(grpcio_direct, "usable", False)
    yield request.param
    assert (public_calls > 0) == (request.param == "public")


@pytest.fixture
async def callee(echo: ModuleType) -> AsyncIterator[tuple[Any, str]]:
    """A served echo handler whose ``echo`` also sets a reply header and trailer."""

    class Annotating(type(make_handler(echo))):  # type: ignore[misc]
        async def echo(self, request: Any, ctx: sb.CallContext) -> Any:
            ctx.set_header("x-served-by", SDK)
            ctx.set_trailer("x-cost-bin", b"\x00\x01")
            return await super().echo(request, ctx)

    handler = Annotating()
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server:
        yield handler, server.address


async def test_replies_errors_and_reply_metadata_are_the_same_on_both_paths(
    echo: ModuleType, callee: tuple[Any, str], unary_path: str
) -> None:
    _handler, address = callee
    async with sb.Bridge("caller") as caller:
        client = caller.client(echo.CalleeClient, address=address)
        reply = await client.echo(pb().Echo(text="hi", n=3))
        assert (reply.text, reply.n, reply.handled_by) == ("hi", 3, SDK)
        info = await client.info(pb().Echo(), timeout="2s", idempotency_key="k-1")
        assert (info.text, info.handled_by) == ("caller", "k-1")
        assert 0 < info.n <= 2000  # the deadline travelled
        received = sb.ReplyMetadata()
        await client.echo(pb().Echo(text="md"), reply_metadata=received)
        assert received.headers["x-served-by"] == SDK
        assert received.trailers["x-cost-bin"] == b"\x00\x01"
        with pytest.raises(sb.HandlerError) as declined:
            await client.decline(pb().Echo())
        assert declined.value.handler_code == "CARD_DECLINED"
        with pytest.raises(sb.CallTimeoutError):
            await client.slow(pb().Echo(), timeout="100ms")


async def test_a_cancelled_caller_cancels_the_handler(
    echo: ModuleType, callee: tuple[Any, str], unary_path: str
) -> None:
    handler, address = callee
    handler.gate = asyncio.Event()
    async with sb.Bridge("caller") as caller:
        client = caller.client(echo.CalleeClient, address=address)
        call = asyncio.create_task(client.slow(pb().Echo()))
        await until(lambda: handler.served["slow"] == 1, "the call reached the handler")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await until(lambda: handler.cancelled == 1, "the handler saw the cancellation")


async def test_stopping_the_calling_bridge_ends_its_open_calls(
    echo: ModuleType, callee: tuple[Any, str], unary_path: str
) -> None:
    handler, address = callee
    handler.gate = asyncio.Event()  # never set: only the caller's stop ends the call
    caller = sb.Bridge("caller")
    await caller.start()
    client = caller.client(echo.CalleeClient, address=address)
    call = asyncio.create_task(client.slow(pb().Echo()))
    await until(lambda: handler.served["slow"] == 1, "the call reached the handler")
    await caller.stop()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(call, 10)
    await until(lambda: handler.cancelled == 1, "the handler saw the cancellation")


class _Garbage(grpc.GenericRpcHandler):
    """A plain grpcio server answering every call with bytes that are not a protobuf message."""

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        async def reply(_request: bytes, _context: Any) -> bytes:
            return b"\xff\xff\xff"

        return grpc.unary_unary_rpc_method_handler(reply)


async def test_an_undecodable_reply_is_an_internal_error_naming_the_method(
    echo: ModuleType, unary_path: str
) -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_Garbage(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with sb.Bridge("caller") as caller:
            client = caller.client(echo.CalleeClient, address=f"127.0.0.1:{port}")
            with pytest.raises(sb.InternalError, match=r"/conformance\.Callee/Echo .*same \.proto"):
                await client.echo(pb().Echo())
    finally:
        await server.stop(None)


class _OkWithoutReply(H2Peer):
    """Ends every call with ``grpc-status: 0`` and no message, which no gRPC server library
    lets a handler do."""

    def request_ended(self, stream_id: int) -> None:
        self.h2.send_headers(stream_id, GRPC_HEADERS)
        self.h2.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)


@pytest.fixture
async def ok_without_reply() -> AsyncIterator[str]:
    """The address of an _OkWithoutReply server."""
    server = await asyncio.get_running_loop().create_server(_OkWithoutReply, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


NO_REPLY = r"127\.0\.0\.1:\d+ ended /conformance\.Callee/Echo with OK but sent no reply"


async def _echo_gets_no_reply(
    echo: ModuleType, address: str, transport: sb.NetworkTransport
) -> None:
    async with sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=address)
        with pytest.raises(sb.InternalError, match=NO_REPLY):
            await client.echo(pb().Echo())


async def test_an_ok_status_without_a_reply_is_an_internal_error_naming_the_method(
    echo: ModuleType, ok_without_reply: str, unary_path: str
) -> None:
    await _echo_gets_no_reply(echo, ok_without_reply, "grpcio")


async def test_grpclib_calls_an_ok_status_without_a_reply_the_same_error(
    echo: ModuleType, ok_without_reply: str
) -> None:
    await _echo_gets_no_reply(echo, ok_without_reply, "grpclib")


async def test_a_sync_client_given_an_ok_status_without_a_reply_raises_too(
    echo: ModuleType, ok_without_reply: str
) -> None:
    def call() -> None:
        with sb.SyncBridge("script") as caller:
            client = caller.client(echo.CalleeSyncClient, address=ok_without_reply)
            with pytest.raises(sb.InternalError, match=NO_REPLY):
                client.echo(pb().Echo())

    await asyncio.to_thread(call)  # the server answers on this loop


class _Changed:
    """A Cython channel whose ``call`` takes other arguments, as a future grpcio's might."""

    def call(self, *_args: Any) -> Any:
        raise TypeError("call() takes exactly 6 positional arguments (5 given)")


async def test_a_changed_grpcio_call_api_falls_back_to_the_public_path(
    echo: ModuleType,
    callee: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(grpcio_direct, "usable", True)
    monkeypatch.setattr(grpcio_direct, "cython_channel", lambda _channel: _Changed())
    _handler, address = callee
    async with sb.Bridge("caller") as caller:
        client = caller.client(echo.CalleeClient, address=address)
        with caplog.at_level(logging.WARNING, "runtime_lib.rpc"):
            assert (await client.echo(pb().Echo(text="a"))).text == "a"
            assert (await client.echo(pb().Echo(text="b"))).text == "b"
    warnings = [r.getMessage() for r in caplog.records if "fast unary path" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert grpc.__version__ in warnings[0]
    assert not grpcio_direct.usable
