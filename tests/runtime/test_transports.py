"""The bridge's network transport choice, deadlines spent while connecting, and call metadata
both ways (``-bin`` values, ``reply_metadata``) on the in-process transport.

The network half of reply metadata is proven against a plain grpcio servicer in
tests/interop/test_bridge_client_to_servers.py (custom_metadata).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from echo_service import make_handler, pb

import runtime_lib as sb

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def never_accepting() -> Iterator[str]:
    """An address whose socket listens but never accepts, its backlog already full: a
    connection to it stays 'connecting' until the caller gives up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    for _ in range(3):  # the kernel queues backlog + 1 handshakes; later ones are left hanging
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(address)
        fillers.append(filler)
    try:
        yield f"127.0.0.1:{address[1]}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_deadline_spent_while_connecting_is_a_timeout(
    echo: ModuleType, never_accepting: str, transport: sb.NetworkTransport
) -> None:
    for _ in range(3):  # each bridge opens a fresh connection
        async with sb.Bridge("caller", rpc=sb.RpcConfig(transport=transport)) as caller:
            client = caller.client(echo.CalleeClient, address=never_accepting)
            with pytest.raises(sb.CallTimeoutError) as spent:
                await client.echo(pb().Echo(), timeout="100ms")
            assert spent.value.not_dispatched  # nothing was sent: safe to try again later


def test_unknown_network_transport_is_a_config_error() -> None:
    with pytest.raises(sb.ConfigError, match=r"grpcio .*or grpclib"):
        sb.Bridge("caller", rpc=sb.RpcConfig(transport="h3"))  # type: ignore[arg-type]


def test_grpclib_missing_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] in ("grpclib", "h2")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "grpclib", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "runtime_lib._rpc.transports.grpclib", raising=False)
    with pytest.raises(sb.ConfigError, match=r"pip install 'sb-gen\[grpclib\]'"):
        sb.Bridge("caller", rpc=sb.RpcConfig(transport="grpclib"))


@pytest.mark.parametrize(
    ("metadata", "key"),
    [({"trace-bin": "text"}, "trace-bin"), ({"tenant": b"bytes"}, "tenant"), ({"t": 1}, "t")],
)
async def test_metadata_values_follow_the_bin_rule(
    echo: ModuleType, metadata: dict[str, Any], key: str
) -> None:
    bridge = sb.Bridge("echo")
    handler = make_handler(echo)
    bridge.serve(handler)
    async with bridge:
        client = bridge.client(echo.CalleeClient, service="echo")
        with pytest.raises(sb.ConfigError, match=repr(key)):
            await client.echo(pb().Echo(), metadata=metadata)
    assert handler.served["echo"] == 0  # refused before anything was sent
    with pytest.raises(sb.ConfigError, match=repr(key)):
        sb.Bridge("caller", rpc=sb.RpcConfig(call_defaults={"metadata": metadata}))


async def test_inproc_carries_bin_metadata_and_fills_reply_metadata(echo: ModuleType) -> None:
    base: Any = type(make_handler(echo))

    class Annotating(base):  # type: ignore[misc]
        async def echo(self, request: Any, ctx: sb.CallContext) -> Any:
            ctx.set_header("seen-bin", ctx.metadata["trace-bin"])
            ctx.set_trailer("served-by", "annotating")
            return await super().echo(request, ctx)

        async def decline(self, request: Any, ctx: sb.CallContext) -> Any:
            ctx.set_trailer("reason-bin", b"\x00\xff")
            return await super().decline(request, ctx)

    bridge = sb.Bridge("echo")
    bridge.serve(Annotating())
    async with bridge:
        client = bridge.client(echo.CalleeClient, service="echo")
        md = sb.ReplyMetadata()
        reply = await client.echo(
            pb().Echo(text="hi"), metadata={"Trace-Bin": b"\x01\x02"}, reply_metadata=md
        )
        assert reply.text == "hi"
        assert md.headers == {"seen-bin": b"\x01\x02"}
        assert md.trailers == {"served-by": "annotating"}

        failed = sb.ReplyMetadata()
        with pytest.raises(sb.HandlerError):
            await client.decline(pb().Echo(), reply_metadata=failed)
        assert failed.trailers == {"reason-bin": b"\x00\xff"}  # on failure too
