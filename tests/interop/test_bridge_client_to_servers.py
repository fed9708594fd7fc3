"""gRPC's interop client cases (grpc/grpc doc/interop-test-descriptions.md), run by the sb-gen
generated client on both network transports against two servers it did not come with: a plain
grpcio servicer and @grpc/grpc-js's (Node, tests/interop/node/server.js).

Status codes arrive as runtime_lib's error codes (UNKNOWN -> INTERNAL, UNIMPLEMENTED ->
NOT_FOUND, DEADLINE_EXCEEDED -> TIMEOUT, errors.py's table); messages arrive unchanged.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import grpc
import pytest

import runtime_lib as sb
from tests.interop.conftest import Interop
from tests.interop.node_peer import node_server
from tests.interop.plain_servicer import ECHO_INITIAL, ECHO_TRAILING, servicer

pytestmark = pytest.mark.timeout(60)

REQUEST_SIZES = (27182, 8, 1828, 45904)
RESPONSE_SIZES = (31415, 9, 2653, 58979)
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"


class Watched(Protocol):
    """The calls a server saw start and end, by method name."""

    started: defaultdict[str, asyncio.Event]
    ended: defaultdict[str, asyncio.Event]


class Peer:
    """The server under test and a bridge client of it."""

    def __init__(self, interop: Interop, service: Watched, address: str) -> None:
        self.interop = interop
        self.pb2: Any = interop.pb2
        self.service = service
        self.address = address


@pytest.fixture(params=["grpcio", "grpc-js"])
async def peer(interop: Interop, request: pytest.FixtureRequest) -> AsyncIterator[Peer]:
    if request.param == "grpc-js":
        async with node_server(request.getfixturevalue("node")) as node:
            yield Peer(interop, node, node.address)
        return
    service = servicer(interop.plain, interop.pb2)
    server = grpc.aio.server()
    interop.plain.add_TestServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield Peer(interop, service, f"127.0.0.1:{port}")
    finally:
        await server.stop(grace=None)


@pytest.fixture
async def client(peer: Peer, transport: sb.NetworkTransport) -> AsyncIterator[Any]:
    async with sb.Bridge("interop-client", rpc=sb.RpcConfig(transport=transport)) as bridge:
        yield bridge.client(peer.interop.sb.TestServiceClient, address=peer.address)


def _payload(pb2: Any, size: int) -> Any:
    return pb2.Payload(body=bytes(size))


async def _stream_of(*requests: Any) -> AsyncIterator[Any]:
    for request in requests:
        yield request


async def test_empty_unary(peer: Peer, client: Any) -> None:
    reply = await client.empty_call(peer.pb2.Empty())
    assert reply == peer.pb2.Empty()
    assert reply.ByteSize() == 0


async def test_large_unary(peer: Peer, client: Any) -> None:
    request = peer.pb2.SimpleRequest(response_size=314159, payload=_payload(peer.pb2, 271828))
    reply = await client.unary_call(request)
    assert reply.payload.body == bytes(314159)


async def test_client_streaming(peer: Peer, client: Any) -> None:
    requests = [
        peer.pb2.StreamingInputCallRequest(payload=_payload(peer.pb2, n)) for n in REQUEST_SIZES
    ]
    reply = await client.streaming_input_call(_stream_of(*requests))
    assert reply.aggregated_payload_size == 74922


async def test_server_streaming(peer: Peer, client: Any) -> None:
    request = peer.pb2.StreamingOutputCallRequest(
        response_parameters=[peer.pb2.ResponseParameters(size=n) for n in RESPONSE_SIZES]
    )
    sizes = [len(r.payload.body) async for r in client.streaming_output_call(request)]
    assert sizes == list(RESPONSE_SIZES)


class _Pinger:
    """A request stream sent one message at a time, each after the previous reply arrived."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    async def requests(self) -> AsyncIterator[Any]:
        while (request := await self.queue.get()) is not None:
            yield request


async def test_ping_pong(peer: Peer, client: Any) -> None:
    pinger = _Pinger()
    replies = client.full_duplex_call(pinger.requests())
    for request_size, response_size in zip(REQUEST_SIZES, RESPONSE_SIZES, strict=True):
        pinger.queue.put_nowait(
            peer.pb2.StreamingOutputCallRequest(
                response_parameters=[peer.pb2.ResponseParameters(size=response_size)],
                payload=_payload(peer.pb2, request_size),
            )
        )
        reply = await anext(replies)
        assert len(reply.payload.body) == response_size
    pinger.queue.put_nowait(None)  # half-close
    assert [r async for r in replies] == []


async def test_empty_stream(client: Any) -> None:
    assert [r async for r in client.full_duplex_call(_stream_of())] == []


async def test_cancel_after_begin(peer: Peer, client: Any) -> None:
    never = asyncio.Event()

    async def silent() -> AsyncIterator[Any]:
        await never.wait()  # begun, but no payload is ever sent
        yield peer.pb2.StreamingInputCallRequest()

    call = asyncio.create_task(client.streaming_input_call(silent()))
    await peer.service.started["StreamingInputCall"].wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await peer.service.ended["StreamingInputCall"].wait()


async def test_cancel_after_first_response(peer: Peer, client: Any) -> None:
    pinger = _Pinger()
    pinger.queue.put_nowait(
        peer.pb2.StreamingOutputCallRequest(
            response_parameters=[peer.pb2.ResponseParameters(size=31415)],
            payload=_payload(peer.pb2, 27182),
        )
    )
    replies = client.full_duplex_call(pinger.requests())
    assert len((await anext(replies)).payload.body) == 31415
    await replies.aclose()  # the caller leaves: the call is cancelled
    await peer.service.ended["FullDuplexCall"].wait()


async def test_timeout_on_sleeping_server(
    peer: Peer, transport: sb.NetworkTransport, interop: Interop
) -> None:
    never = asyncio.Event()

    async def one_then_wait() -> AsyncIterator[Any]:
        yield peer.pb2.StreamingOutputCallRequest(payload=_payload(peer.pb2, 27182))
        await never.wait()

    # Ten fresh channels: a 1 ms deadline may run out while connecting, or after; TIMEOUT both ways.
    for _ in range(10):
        async with sb.Bridge("interop-client", rpc=sb.RpcConfig(transport=transport)) as bridge:
            client = bridge.client(interop.sb.TestServiceClient, address=peer.address)
            with pytest.raises(sb.CallTimeoutError):
                async for _reply in client.full_duplex_call(one_then_wait(), timeout="1ms"):
                    pass


async def test_custom_metadata(peer: Peer, client: Any) -> None:
    sent = {ECHO_INITIAL: "test_initial_metadata_value", ECHO_TRAILING: b"\xab\xab\xab"}
    unary = sb.ReplyMetadata()
    request = peer.pb2.SimpleRequest(response_size=314159, payload=_payload(peer.pb2, 271828))
    await client.unary_call(request, metadata=sent, reply_metadata=unary)

    duplex = sb.ReplyMetadata()
    streamed = peer.pb2.StreamingOutputCallRequest(
        response_parameters=[peer.pb2.ResponseParameters(size=314159)],
        payload=_payload(peer.pb2, 271828),
    )
    replies = client.full_duplex_call(_stream_of(streamed), metadata=sent, reply_metadata=duplex)
    assert [len(r.payload.body) async for r in replies] == [314159]

    for md in (unary, duplex):
        assert md.headers[ECHO_INITIAL] == "test_initial_metadata_value"
        assert md.trailers[ECHO_TRAILING] == b"\xab\xab\xab"


def _status_requests(pb2: Any, message: str) -> Iterator[tuple[str, Any]]:
    status = pb2.EchoStatus(code=2, message=message)
    yield "unary", pb2.SimpleRequest(response_status=status)
    yield "duplex", pb2.StreamingOutputCallRequest(response_status=status)


@pytest.mark.parametrize("message", ["test status message", SPECIAL_MESSAGE])
async def test_status_code_and_message(peer: Peer, client: Any, message: str) -> None:
    # "test status message" is status_code_and_message; the other is special_status_message.
    for kind, request in _status_requests(peer.pb2, message):
        with pytest.raises(sb.ServiceBridgeError) as failed:
            if kind == "unary":
                await client.unary_call(request)
            else:
                async for _reply in client.full_duplex_call(_stream_of(request)):
                    pass
        assert failed.value.code is sb.ErrorCode.INTERNAL  # gRPC UNKNOWN (2)
        assert failed.value.message == message


async def test_unimplemented_method(peer: Peer, client: Any) -> None:
    with pytest.raises(sb.ServiceBridgeError) as failed:
        await client.unimplemented_call(peer.pb2.Empty())
    assert failed.value.code is sb.ErrorCode.NOT_FOUND  # gRPC UNIMPLEMENTED (12)


async def test_unimplemented_service(peer: Peer, transport: sb.NetworkTransport) -> None:
    async with sb.Bridge("interop-client", rpc=sb.RpcConfig(transport=transport)) as bridge:
        other = bridge.client(peer.interop.sb.UnimplementedServiceClient, address=peer.address)
        with pytest.raises(sb.ServiceBridgeError) as failed:
            await other.unimplemented_call(peer.pb2.Empty())
    assert failed.value.code is sb.ErrorCode.NOT_FOUND  # gRPC UNIMPLEMENTED (12)
