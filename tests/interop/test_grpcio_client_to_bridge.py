"""gRPC's interop cases (grpc/grpc ``doc/interop-test-descriptions.md``, "Client" section), run by
a plain grpcio client (grpc_tools' stub) against a bridge serving the sb-gen TestService handler
of ``interop_handler``. Each test is one case, its procedure and its client asserts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

import runtime_lib as sb
from tests.interop.conftest import Interop
from tests.interop.interop_handler import ECHO_INITIAL, ECHO_TRAILING, make_handler

pytestmark = pytest.mark.timeout(60)

INITIAL_VALUE = "test_initial_metadata_value"
TRAILING_VALUE = b"\xab\xab\xab"
STATUS_MESSAGE = "test status message"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"


@asynccontextmanager
async def _served(
    interop: Interop, transport: sb.NetworkTransport, stub: str = "TestServiceStub"
) -> AsyncIterator[Any]:
    """A plain grpcio stub connected to a bridge serving the interop TestService handler on
    ``transport``'s server (grpc.aio or grpclib)."""
    server = sb.Bridge("interop", rpc=sb.RpcConfig(transport=transport))
    server.serve(make_handler(interop.sb, interop.pb2))
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        yield getattr(interop.plain, stub)(channel)


def _payload(interop: Interop, size: int) -> Any:
    return interop.pb2.Payload(body=bytes(size))


def _streaming_request(interop: Interop, size: int, body: int) -> Any:
    return interop.pb2.StreamingOutputCallRequest(
        response_parameters=[interop.pb2.ResponseParameters(size=size)],
        payload=_payload(interop, body),
    )


async def test_empty_unary(interop: Interop, server_transport: sb.NetworkTransport) -> None:
    async with _served(interop, server_transport) as stub:
        reply = await stub.EmptyCall(interop.pb2.Empty())
    assert reply is not None
    assert reply.ByteSize() == 0


async def test_large_unary(interop: Interop, server_transport: sb.NetworkTransport) -> None:
    async with _served(interop, server_transport) as stub:
        reply = await stub.UnaryCall(
            interop.pb2.SimpleRequest(response_size=314159, payload=_payload(interop, 271828))
        )
    assert reply.payload.body == bytes(314159)


async def test_client_streaming(interop: Interop, server_transport: sb.NetworkTransport) -> None:
    async def requests() -> AsyncIterator[Any]:
        for size in (27182, 8, 1828, 45904):
            yield interop.pb2.StreamingInputCallRequest(payload=_payload(interop, size))

    async with _served(interop, server_transport) as stub:
        reply = await stub.StreamingInputCall(requests())
    assert reply.aggregated_payload_size == 74922


async def test_server_streaming(interop: Interop, server_transport: sb.NetworkTransport) -> None:
    sizes = [31415, 9, 2653, 58979]
    request = interop.pb2.StreamingOutputCallRequest(
        response_parameters=[interop.pb2.ResponseParameters(size=s) for s in sizes]
    )
    async with _served(interop, server_transport) as stub:
        call = stub.StreamingOutputCall(request)
        replies = [reply async for reply in call]
        assert await call.code() is grpc.StatusCode.OK
    assert [len(r.payload.body) for r in replies] == sizes
    assert all(r.payload.body == bytes(len(r.payload.body)) for r in replies)


async def test_ping_pong(interop: Interop, server_transport: sb.NetworkTransport) -> None:
    steps = [(31415, 27182), (9, 8), (2653, 1828), (58979, 45904)]
    async with _served(interop, server_transport) as stub:
        call = stub.FullDuplexCall()
        sizes = []
        for size, body in steps:
            await call.write(_streaming_request(interop, size, body))
            reply = await call.read()
            sizes.append(len(reply.payload.body))
        await call.done_writing()
        assert await call.read() is grpc.aio.EOF
        assert await call.code() is grpc.StatusCode.OK
    assert sizes == [size for size, _ in steps]


async def test_empty_stream(interop: Interop, server_transport: sb.NetworkTransport) -> None:
    async with _served(interop, server_transport) as stub:
        call = stub.FullDuplexCall()
        await call.done_writing()
        replies = [reply async for reply in call]
        assert await call.code() is grpc.StatusCode.OK
    assert replies == []


async def test_cancel_after_begin(interop: Interop, server_transport: sb.NetworkTransport) -> None:
    async with _served(interop, server_transport) as stub:
        call = stub.StreamingInputCall()
        call.cancel()
        assert await call.code() is grpc.StatusCode.CANCELLED


async def test_cancel_after_first_response(
    interop: Interop, server_transport: sb.NetworkTransport
) -> None:
    async with _served(interop, server_transport) as stub:
        call = stub.FullDuplexCall()
        await call.write(_streaming_request(interop, 31415, 27182))
        reply = await call.read()
        assert len(reply.payload.body) == 31415
        call.cancel()
        assert await call.code() is grpc.StatusCode.CANCELLED


async def test_timeout_on_sleeping_server(
    interop: Interop, server_transport: sb.NetworkTransport
) -> None:
    # grpcio's blocking client: the asyncio one reports INTERNAL ("Internal error from Core")
    # instead of the call's status when its write fails because the call already ended, which
    # the 1 ms deadline makes likely on a busy loop (grpc/grpc#36066; any server).
    request = interop.pb2.StreamingOutputCallRequest(payload=_payload(interop, 27182))
    server = sb.Bridge("interop", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(make_handler(interop.sb, interop.pb2))

    ended = threading.Event()

    def requests() -> Iterator[Any]:
        # The client does not half-close (the interop case): the server keeps waiting for more
        # requests, so only the deadline ends the call, however fast the server answers.
        yield request
        ended.wait()

    def call(address: str) -> grpc.StatusCode:
        with grpc.insecure_channel(address) as channel:
            replies = interop.plain.TestServiceStub(channel).FullDuplexCall(
                requests(), timeout=0.001
            )
            try:
                for _ in replies:
                    pass
            except grpc.RpcError as failed:
                code: grpc.StatusCode = failed.code()
                return code
            finally:
                ended.set()
            return grpc.StatusCode.OK

    async with server:
        assert await asyncio.to_thread(call, server.address) is grpc.StatusCode.DEADLINE_EXCEEDED


async def test_custom_metadata(interop: Interop, server_transport: sb.NetworkTransport) -> None:
    metadata = ((ECHO_INITIAL, INITIAL_VALUE), (ECHO_TRAILING, TRAILING_VALUE))
    async with _served(interop, server_transport) as stub:
        unary = stub.UnaryCall(
            interop.pb2.SimpleRequest(response_size=314159, payload=_payload(interop, 271828)),
            metadata=metadata,
        )
        assert len((await unary).payload.body) == 314159
        duplex = stub.FullDuplexCall(metadata=metadata)
        await duplex.write(_streaming_request(interop, 314159, 271828))
        await duplex.done_writing()
        assert [len(r.payload.body) async for r in duplex] == [314159]
        for call in (unary, duplex):
            assert await call.code() is grpc.StatusCode.OK
            assert (ECHO_INITIAL, INITIAL_VALUE) in tuple(await call.initial_metadata())
            assert (ECHO_TRAILING, TRAILING_VALUE) in tuple(await call.trailing_metadata())


@pytest.mark.parametrize("message", [STATUS_MESSAGE, SPECIAL_MESSAGE])
async def test_status_code_and_message(
    interop: Interop, server_transport: sb.NetworkTransport, message: str
) -> None:
    # status_code_and_message, and special_status_message with the second message.
    status = interop.pb2.EchoStatus(code=2, message=message)
    async with _served(interop, server_transport) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as unary:
            await stub.UnaryCall(interop.pb2.SimpleRequest(response_status=status))
        duplex = stub.FullDuplexCall()
        await duplex.write(interop.pb2.StreamingOutputCallRequest(response_status=status))
        await duplex.done_writing()
        assert await duplex.code() is grpc.StatusCode.UNKNOWN
        duplex_message = await duplex.details()
    assert unary.value.code() is grpc.StatusCode.UNKNOWN
    assert unary.value.details() == message
    assert duplex_message == message


async def test_unimplemented_method(
    interop: Interop, server_transport: sb.NetworkTransport
) -> None:
    async with _served(interop, server_transport) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.UnimplementedCall(interop.pb2.Empty())
    assert failed.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_unimplemented_service(
    interop: Interop, server_transport: sb.NetworkTransport
) -> None:
    async with _served(interop, server_transport, "UnimplementedServiceStub") as other:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await other.UnimplementedCall(interop.pb2.Empty())
    assert failed.value.code() is grpc.StatusCode.UNIMPLEMENTED
