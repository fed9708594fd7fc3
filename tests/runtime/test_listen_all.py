"""A bridge listening on every interface (``"[::]:0"``, gRPC's spelling) serves one port on IPv4
and IPv6, on both servers. grpcio listens dual-stack there; the grpclib server listened on IPv6
alone (asyncio's reading of ``::``), and asked for all interfaces it picked a free port per
address, so a caller reached one side on the port the bridge reported for the other."""

from __future__ import annotations

import socket
from types import ModuleType

import pytest
from echo_service import make_handler, pb

import runtime_lib as sb

pytestmark = pytest.mark.timeout(60)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
async def test_all_interfaces_are_served_on_one_port(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    server = sb.Bridge(
        "echo", listen="[::]:0", insecure=True, rpc=sb.RpcConfig(transport=server_transport)
    )
    server.serve(make_handler(echo))
    async with server, sb.Bridge("caller") as caller:
        port = server.address.rpartition(":")[2]
        for host in ("127.0.0.1", "[::1]"):
            client = caller.client(echo.CalleeClient, address=f"{host}:{port}")
            assert (await client.info(pb().Echo())).text == "caller", host
