"""The ``sb-call`` metadata entry (docs/wire.md): what a bridge sends with every call, what a
server reads from it, and the separate entries older callers send, still read."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import grpc
import pytest
from echo_service import make_handler, pb

import runtime_lib as sb
from runtime_lib._rpc import wire

pytestmark = pytest.mark.timeout(60)

INFO = "/conformance.Callee/Info"


def _contract(echo: ModuleType) -> str:
    return str(next(m.contract_hash for m in echo.CALLEE_SERVICE.methods if m.name == "Info"))


def _info(channel: grpc.aio.Channel) -> Any:
    """Info as a plain grpcio caller sends it: bytes, and whatever metadata the test gives."""
    return channel.unary_unary(INFO, request_serializer=None, response_deserializer=None)


class _Recorder(grpc.GenericRpcHandler):
    """A plain grpcio server's handler that answers Info with an empty reply and keeps each
    call's metadata as it arrived."""

    def __init__(self) -> None:
        self.seen: list[tuple[tuple[str, str | bytes], ...]] = []

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        async def info(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            self.seen.append(tuple(context.invocation_metadata() or ()))
            return b""

        return grpc.unary_unary_rpc_method_handler(info)


async def test_a_call_sends_one_sb_call_entry_and_none_of_the_separate_ones(
    echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    recorder = _Recorder()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((recorder,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with sb.Bridge("orders", rpc=sb.RpcConfig(transport=transport)) as bridge:
            client = bridge.client(echo.CalleeClient, address=f"127.0.0.1:{port}")
            await client.info(pb().Echo(), request_id="r-1", timeout=20.0, metadata={"x-a": "1"})
    finally:
        await server.stop(None)
    [metadata] = recorder.seen
    ours = [(k, v) for k, v in metadata if k.startswith("sb-")]
    assert [k for k, _ in ours] == [wire.CALL]
    budget, contract, request_id, caller = str(ours[0][1]).split(" ")
    assert 19_000 < int(budget) <= 20_000
    assert (contract, request_id, caller) == (_contract(echo), "r-1", "orders")
    assert ("x-a", "1") in metadata


@pytest.mark.parametrize(
    ("request_id", "caller"),
    [("r 1", "orders"), ("50%", "billing team"), ("größe", "orders"), ("a\tb", "x%y z")],
)
async def test_free_form_fields_arrive_as_they_were_given(
    echo: ModuleType,
    server_transport: sb.NetworkTransport,
    transport: sb.NetworkTransport,
    request_id: str,
    caller: str,
) -> None:
    seen: list[tuple[str, str]] = []
    handler = make_handler(echo)

    async def info(request: object, ctx: sb.CallContext) -> object:
        seen.append((ctx.request_id, ctx.caller))
        return pb().EchoReply()

    handler.info = info
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(handler)
    async with server, sb.Bridge(caller, rpc=sb.RpcConfig(transport=transport)) as calling:
        client = calling.client(echo.CalleeClient, address=server.address)
        await client.info(pb().Echo(), request_id=request_id)
    assert seen == [(request_id, caller)]


def _served(echo: ModuleType, server_transport: sb.NetworkTransport) -> tuple[Any, sb.Bridge]:
    handler = make_handler(echo)
    contexts: list[sb.CallContext] = []

    async def info(request: object, ctx: sb.CallContext) -> object:
        contexts.append(ctx)
        return pb().EchoReply()

    handler.info = info
    handler.contexts = contexts
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(handler)
    return handler, server


async def test_a_caller_sending_the_separate_entries_is_still_understood(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    handler, server = _served(echo, server_transport)
    legacy = (
        (wire.CALLER, "orders"),
        (wire.REQUEST_ID, "r-9"),
        (wire.CONTRACT, _contract(echo)),
        (wire.TIMEOUT_MS, "1500"),
    )
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        call = _info(channel)
        await call(b"", metadata=legacy)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call(b"", metadata=((wire.CONTRACT, "v2:other"),))
    [ctx] = handler.contexts
    assert (ctx.caller, ctx.request_id) == ("orders", "r-9")
    remaining = ctx.time_remaining()
    assert remaining is not None and 0 < remaining <= 1.5
    assert failed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "v2:other" in (failed.value.details() or "")


async def test_a_contract_mismatch_in_sb_call_is_refused_naming_both(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    handler, server = _served(echo, server_transport)
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        call = _info(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call(b"", metadata=((wire.CALL, "3000 v2:other r-1 orders"),))
    assert failed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = failed.value.details() or ""
    assert "v2:other" in details and _contract(echo) in details
    assert handler.contexts == []


@pytest.mark.parametrize(
    "packed",
    ["", "3000", "3000 v2:x", "soon v2:x r-1", "3000 v2:x r-1 orders more", "3000 v2:x %ff"],
)
async def test_a_malformed_sb_call_is_invalid_argument_naming_it(
    echo: ModuleType, server_transport: sb.NetworkTransport, packed: str
) -> None:
    handler, server = _served(echo, server_transport)
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        call = _info(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call(b"", metadata=((wire.CALL, packed),))
    assert failed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert wire.CALL in (failed.value.details() or "")
    assert handler.contexts == []


@pytest.mark.parametrize("text", ["plain", "r-1", "a b", "100%", "größe", "\t", ""])
def test_a_field_round_trips_and_never_holds_a_space(text: str) -> None:
    encoded = wire.encode_field(text)
    assert " " not in encoded and encoded.isascii() and encoded.isprintable()
    assert wire.decode_field(encoded) == text


async def test_sb_call_in_a_callers_metadata_is_a_config_error(echo: ModuleType) -> None:
    async with sb.Bridge("orders") as bridge:
        client = bridge.client(echo.CalleeClient, address="127.0.0.1:1")
        with pytest.raises(sb.ConfigError, match="'SB-Call' is the entry the runtime sends"):
            await client.info(pb().Echo(), metadata={"SB-Call": "1 2 3"})


async def test_calls_in_flight_together_each_read_their_own_metadata(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    """The grpc.aio server hands each handler the metadata its method lookup converted (kept in
    the call's own task context): with 64 calls in flight, each sees its own key and request id."""
    handler = make_handler(echo)
    server = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    server.serve(handler)
    async with server, sb.Bridge("caller") as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        replies = await asyncio.gather(
            *(
                client.info(pb().Echo(), idempotency_key=f"k-{n}", request_id=f"r-{n}")
                for n in range(64)
            )
        )
    assert [r.handled_by for r in replies] == [f"k-{n}" for n in range(64)]
    assert sorted((c.idempotency_key, c.request_id) for c in handler.contexts) == sorted(
        (f"k-{n}", f"r-{n}") for n in range(64)
    )
