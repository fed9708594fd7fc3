"""The gRPC server against a plain grpcio client: UNIMPLEMENTED for what it does not serve,
reply metadata both ways, nothing kept per unknown path, crashes logged and not sent, malformed
calls refused as the caller's error, no second server on a served port, and a stranger
speaking another protocol dropped without harm."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from echo_service import make_handler, pb
from google.protobuf import any_pb2
from google.rpc import (  # type: ignore[import-untyped]  # googleapis-common-protos ships no stubs
    error_details_pb2,
    status_pb2,
)
from grpc_health.v1 import health_pb2

import runtime_lib as sb
from runtime_lib._nats_server import free_port
from runtime_lib._rpc import wire

pytestmark = pytest.mark.timeout(60)

ECHO = "/conformance.Callee/Echo"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


def _raw(channel: grpc.aio.Channel, path: str) -> Any:
    """A multi-callable sending and receiving bytes as they are."""
    return channel.unary_unary(path, request_serializer=None, response_deserializer=None)


def _rich(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    """The google.rpc.Status details of a failed call, by type name."""
    found: dict[str, Any] = {}
    for key, value in error.trailing_metadata() or ():
        if key == wire.STATUS_DETAILS:
            for detail in status_pb2.Status.FromString(value).details:
                found[detail.TypeName()] = _unpacked(detail)
    return found


def _unpacked(detail: any_pb2.Any) -> Any:
    for cls in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
        message = cls()
        if detail.Unpack(message):
            return message
    raise AssertionError(f"unexpected detail {detail.TypeName()}")


async def test_not_implemented_unknown_method_and_unknown_service_are_unimplemented(
    server_transport: sb.NetworkTransport,
    echo: ModuleType,
) -> None:
    handler = make_handler(echo)

    async def absent(request: Any, ctx: sb.CallContext) -> Any:
        raise NotImplementedError

    handler.absent = absent
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(handler)
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        for path in ("/conformance.Callee/Absent", "/conformance.Callee/Nope", "/no.Such/Echo"):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await _raw(channel, path)(b"")
            assert failed.value.code() is grpc.StatusCode.UNIMPLEMENTED, path


async def test_no_method_is_registered_with_grpc_core_so_accepting_a_call_stays_cheap(
    echo: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """grpc.aio waits on one pending request per registered method for every call it accepts;
    the bridge's methods, health and reflection are all served through generic handlers."""
    registered: list[str] = []
    real_server = grpc.aio.server

    def recording_server(*args: Any, **kwargs: Any) -> grpc.aio.Server:
        server = real_server(*args, **kwargs)
        register = server.add_registered_method_handlers

        def add(service: str, handlers: Any) -> None:
            registered.append(service)
            register(service, handlers)

        server.add_registered_method_handlers = add  # type: ignore[method-assign,assignment]
        return server

    monkeypatch.setattr(grpc.aio, "server", recording_server)
    bridge = sb.Bridge("echo")
    bridge.serve(make_handler(echo))
    async with bridge, grpc.aio.insecure_channel(bridge.address) as channel:
        reply = await channel.unary_unary(
            ECHO,
            request_serializer=pb().Echo.SerializeToString,
            response_deserializer=pb().EchoReply.FromString,
        )(pb().Echo(text="hi"))
        health = await channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )(health_pb2.HealthCheckRequest(service="conformance.Callee"))
    assert reply.text == "hi"
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert registered == []


async def test_distinct_unknown_paths_leave_nothing_behind(echo: ModuleType) -> None:
    server = sb.Bridge("echo")
    server.serve(make_handler(echo))
    runtime = str(Path(sb.__file__).parent / "*")
    async with server, grpc.aio.insecure_channel(server.address) as channel:

        async def unknown_paths(start: int, count: int) -> None:
            for i in range(start, start + count):
                with pytest.raises(grpc.aio.AioRpcError):
                    await _raw(channel, f"/unknown.S{i}/M{i}")(b"")

        await unknown_paths(0, 100)  # warm up whatever is allocated once
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, runtime)])
            await unknown_paths(100, 2_000)
            after = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, runtime)])
        finally:
            tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # A per-path entry costs well over 2 KiB per 100 paths (the key alone is ~60 bytes).
    assert grown < 2_000, f"runtime_lib kept {grown} bytes for 2,000 unknown paths"


class _MetadataEcho:
    """Handler methods that read incoming metadata and set reply metadata."""

    set_late: list[Exception]

    async def echo(self, request: Any, ctx: sb.CallContext) -> Any:
        blob = ctx.metadata["x-blob-bin"]
        assert isinstance(blob, bytes)
        ctx.set_header("x-seen", str(ctx.metadata["x-text"]))
        ctx.set_trailer("x-blob-bin", blob[::-1])
        return pb().EchoReply(text=request.text)

    async def decline(self, request: Any, ctx: sb.CallContext) -> Any:
        ctx.set_header("x-stage", "declining")
        ctx.set_trailer("x-reason-bin", b"\x00\xff")
        raise sb.HandlerError("CARD_DECLINED", "card declined")

    async def watch(self, request: Any, ctx: sb.CallContext) -> AsyncIterator[Any]:
        ctx.set_header("x-stream", "open")
        yield pb().EchoReply(n=0)
        try:
            ctx.set_header("x-too-late", "1")
        except sb.ConfigError as exc:
            self.set_late.append(exc)
        ctx.set_trailer("x-count", "2")
        yield pb().EchoReply(n=1)


def _metadata_handler(echo: ModuleType) -> Any:
    base = type(make_handler(echo))

    class Handler(_MetadataEcho, base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.set_late = []

    return Handler()


async def test_reply_metadata_and_binary_incoming_metadata(
    server_transport: sb.NetworkTransport, echo: ModuleType
) -> None:
    handler = _metadata_handler(echo)
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(handler)
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        call = _raw(channel, ECHO)(
            pb().Echo(text="hi").SerializeToString(),
            metadata=(("x-text", "plain"), ("x-blob-bin", b"\x01\x02\x03")),
        )
        assert pb().EchoReply.FromString(await call).text == "hi"
        assert ("x-seen", "plain") in tuple(await call.initial_metadata())
        assert ("x-blob-bin", b"\x03\x02\x01") in tuple(await call.trailing_metadata())

        declined = _raw(channel, "/conformance.Callee/Decline")(b"")
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await declined
        assert ("x-stage", "declining") in tuple(failed.value.initial_metadata())
        trailers = tuple(failed.value.trailing_metadata())
        assert ("x-reason-bin", b"\x00\xff") in trailers
        assert _rich(failed.value)["google.rpc.ErrorInfo"].reason == "HANDLER"

        watch: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            "/conformance.Callee/Watch", request_serializer=None, response_deserializer=None
        )
        stream = watch(b"")
        replies = [pb().EchoReply.FromString(raw).n async for raw in stream]
        assert replies == [0, 1]
        assert ("x-stream", "open") in tuple(await stream.initial_metadata())
        assert ("x-count", "2") in tuple(await stream.trailing_metadata())
        (late,) = handler.set_late
        assert "already sent" in str(late)


@pytest.mark.parametrize(
    ("key", "value"),
    [("x-blob-bin", "text"), ("x-text", b"bytes"), ("X-Upper", "v"), ("grpc-status", "0")],
)
def test_reply_metadata_type_and_key_rules(key: str, value: str | bytes) -> None:
    ctx = sb.CallContext("/a.B/C")
    with pytest.raises(sb.ConfigError, match=repr(key)):
        ctx.set_header(key, value)
    with pytest.raises(sb.ConfigError, match=repr(key)):
        ctx.set_trailer(key, value)


async def test_a_crash_is_logged_with_its_traceback_and_the_caller_sees_no_text(
    server_transport: sb.NetworkTransport, echo: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "/srv/app/config/secret-db-password.txt"
    handler = make_handler(echo, behaviours={"crash": {"throw": secret}})
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(handler)
    caplog.set_level(logging.ERROR, logger="runtime_lib.rpc")
    async with server, sb.Bridge("caller") as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        with pytest.raises(sb.HandlerError) as crashed:
            await client.crash(pb().Echo(), request_id="req-42")
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as plain:
                await _raw(channel, "/conformance.Callee/Crash")(
                    b"", metadata=(("traceparent", TRACEPARENT),)
                )
    assert crashed.value.handler_code == "INTERNAL"
    assert "req-42" in crashed.value.message
    for seen in (str(crashed.value), plain.value.details() or "", repr(plain.value)):
        assert secret not in seen
        assert "RuntimeError" not in seen
    first, second = (r for r in caplog.records if r.name == "runtime_lib.rpc")
    assert first.request_id == "req-42"  # type: ignore[attr-defined]
    assert first.exc_info is not None and first.exc_info[0] is RuntimeError
    assert "req-42" in first.getMessage()
    assert secret in caplog.text  # the traceback stays on the server
    # A plain client sent no request id: the server made one, in the log and in the reply.
    assert second.request_id in (plain.value.details() or "")  # type: ignore[attr-defined]
    assert second.trace_id == TRACE_ID  # type: ignore[attr-defined]


async def test_expose_errors_sends_the_exception_for_development(echo: ModuleType) -> None:
    server = sb.Bridge("echo", rpc=sb.RpcConfig(expose_errors=True))
    server.serve(make_handler(echo))
    async with server, sb.Bridge("caller") as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        with pytest.raises(sb.HandlerError) as crashed:
            await client.crash(pb().Echo())
    assert "RuntimeError: database is down" in crashed.value.message


async def test_undecodable_request_bytes_are_invalid_argument_with_details(
    server_transport: sb.NetworkTransport,
    echo: ModuleType,
) -> None:
    handler = make_handler(echo)
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(handler)
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as unary:
            await _raw(channel, ECHO)(b"\xff\xff\xff\xff")

        async def garbage() -> AsyncIterator[bytes]:
            yield pb().Echo(text="ok").SerializeToString()
            yield b"\x0a\xff"  # field 1, length 255, then nothing

        upload: grpc.aio.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(
            "/conformance.Callee/Upload", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.aio.AioRpcError) as streamed:
            await upload(garbage())
    for failed in (unary.value, streamed.value):
        assert failed.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid conformance.Echo message" in (failed.details() or "")
        details = _rich(failed)
        assert details["google.rpc.ErrorInfo"].reason == "VALIDATION"
        (violation,) = details["google.rpc.BadRequest"].field_violations
        assert violation.field == "request"
    assert handler.served["echo"] == 0


@pytest.mark.parametrize("stated", ["9" * 400, "soon", "-5"])
async def test_a_bad_sb_timeout_ms_is_invalid_argument_naming_it(
    server_transport: sb.NetworkTransport, echo: ModuleType, stated: str
) -> None:
    handler = make_handler(echo)
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(handler)
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await _raw(channel, ECHO)(b"", metadata=((wire.TIMEOUT_MS, stated),))
    assert failed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    message = failed.value.details() or ""
    assert wire.TIMEOUT_MS in message and "Overflow" not in message
    (violation,) = _rich(failed.value)["google.rpc.BadRequest"].field_violations
    assert violation.field == wire.TIMEOUT_MS
    assert handler.served["echo"] == 0


async def test_a_second_server_on_a_served_address_is_a_config_error(
    server_transport: sb.NetworkTransport, echo: ModuleType
) -> None:
    address = f"127.0.0.1:{free_port()}"
    first = sb.Bridge("echo", listen=address, rpc=sb.RpcConfig(transport=server_transport))
    first.serve(make_handler(echo))
    second = sb.Bridge("echo", listen=address, rpc=sb.RpcConfig(transport=server_transport))
    second.serve(make_handler(echo))
    async with first:
        with pytest.raises(sb.ConfigError, match=address):
            await second.start()
        await second.stop()
        # The first one still answers alone.
        client = sb.Bridge("caller")
        async with client:
            reply = await client.client(echo.CalleeClient, address=address).echo(
                pb().Echo(text="still here")
            )
        assert reply.text == "still here"


# What a stranger may send to a gRPC port: another protocol, noise, a broken HTTP/2 start.
STRANGERS = {
    "HTTP/1.1": b"GET / HTTP/1.1\r\nHost: payment\r\n\r\n",
    "noise": bytes(range(256)) * 16,
    "HTTP/2 preface then noise": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(range(256)) * 2,
    "TLS hello on plaintext": bytes.fromhex("16030100a5010000a10303") + bytes(160),
}


async def test_a_stranger_speaking_nonsense_is_dropped_and_the_server_serves_on(
    echo: ModuleType, server_transport: sb.NetworkTransport, caplog: pytest.LogCaptureFixture
) -> None:
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(make_handler(echo))
    async with server, sb.Bridge("caller", rpc=sb.RpcConfig(transport=server_transport)) as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        host, port = server.address.rsplit(":", 1)
        for what, data in STRANGERS.items():
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(data)
            await writer.drain()
            # The server answers with its HTTP/2 settings at most, then drops the connection.
            await asyncio.wait_for(reader.read(), 10)
            writer.close()
            reply = await client.echo(pb().Echo(text=what), timeout="5s")
            assert reply.text == what
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
