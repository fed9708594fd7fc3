"""The largest message a bridge receives (``RpcConfig.max_message_size``, 4 MiB as in gRPC), the
same on both servers and both client transports: a request or reply over it fails the call with
``ValidationError`` (not ``OverloadedError``: no retry can help) naming the sizes and the
setting, the server serves on, and a peer declaring a huge message is refused before its body
is read (grpclib alone would buffer all of it)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from types import ModuleType

import grpc
import pytest
from echo_service import make_handler, pb
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError

import runtime_lib as sb

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024
ONCE = sb.RetryPolicy(max_attempts=1)


def _served(echo: ModuleType, transport: sb.NetworkTransport, limit: int = 4 * MiB) -> sb.Bridge:
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=transport, max_message_size=limit))
    server.serve(make_handler(echo))
    return server


async def test_a_request_over_the_servers_limit_is_a_validation_error(
    echo: ModuleType, server_transport: sb.NetworkTransport, transport: sb.NetworkTransport
) -> None:
    server = _served(echo, server_transport)
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        with pytest.raises(sb.ValidationError) as refused:
            await client.echo(pb().Echo(text="x" * (5 * MiB)))
        assert "larger than its receiver accepts (4,194,304 bytes)" in refused.value.message
        assert "RpcConfig.max_message_size" in refused.value.message
        assert not refused.value.retryable
        # Under the limit, the same server answers.
        assert (await client.echo(pb().Echo(text="x" * (4 * MiB - 64)))).text.startswith("x")


async def test_a_streamed_request_over_the_limit_is_a_validation_error(
    echo: ModuleType, server_transport: sb.NetworkTransport, transport: sb.NetworkTransport
) -> None:
    async def requests() -> AsyncIterator[object]:
        yield pb().Echo(text="small")
        yield pb().Echo(text="x" * (5 * MiB))

    server = _served(echo, server_transport)
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        with pytest.raises(sb.ValidationError) as refused:
            await client.upload(requests())
        assert "larger than its receiver accepts (4,194,304 bytes)" in refused.value.message


async def test_a_reply_over_the_callers_limit_is_a_validation_error_and_both_may_raise_it(
    echo: ModuleType, server_transport: sb.NetworkTransport, transport: sb.NetworkTransport
) -> None:
    server = _served(echo, server_transport, limit=8 * MiB)  # takes the 5 MiB request
    big = pb().Echo(text="x" * (5 * MiB))
    await server.start()
    try:
        async with sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
            client = caller.client(echo.CalleeClient, address=server.address)
            with pytest.raises(sb.ValidationError) as refused:
                await client.echo(big, retry=ONCE)  # its 5 MiB reply is over the caller's 4
            assert "larger than its receiver accepts (4,194,304 bytes)" in refused.value.message
        raised = sb.RpcConfig(transport=transport, max_message_size=8 * MiB)
        async with sb.Bridge("caller", rpc=raised) as caller:
            client = caller.client(echo.CalleeClient, address=server.address)
            assert len((await client.echo(big)).text) == 5 * MiB
        # The refused reply's handler was writing when its caller reset the call and left: the
        # grpclib server waited for it forever (writes paused on a lost connection).
        await asyncio.wait_for(server.stop(), 10)
    finally:
        await server.stop()


async def test_a_huge_declared_message_is_refused_before_its_body_is_read(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    # A plain grpclib caller writes a message prefix declaring 1 GiB, then 1 KiB of it.
    server = _served(echo, server_transport)
    async with server:
        host, port = server.address.rsplit(":", 1)
        channel = Channel(host, int(port))
        try:
            request, reply = pb().Echo, pb().EchoReply
            path = "/conformance.Callee/Echo"
            with pytest.raises(GRPCError) as refused:
                async with channel.request(path, Cardinality.UNARY_UNARY, request, reply) as call:
                    await call.send_request()
                    prefix = struct.pack(">?I", False, 1 << 30)  # not compressed, 1 GiB
                    await call._stream.send_data(prefix + bytes(1024))
                    await asyncio.wait_for(call.recv_message(), 10)
        finally:
            channel.close()
    assert refused.value.status is Status.RESOURCE_EXHAUSTED
    assert refused.value.message is not None
    assert "Received message larger than max (1073741824 vs. 4194304)" in refused.value.message


async def test_a_plain_grpcio_client_sees_grpcs_own_status(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    server = _served(echo, server_transport)
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/conformance.Callee/Echo"
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(pb().Echo(text="x" * (5 * MiB)).SerializeToString(), timeout=10)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Received message larger than max (5242885 vs. 4194304)" in str(refused.value.details())


def test_the_limit_is_checked() -> None:
    with pytest.raises(sb.ConfigError, match=r"RpcConfig\.max_message_size=100: must be at least"):
        sb.RpcConfig(max_message_size=100)
