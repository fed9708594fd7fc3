"""Mutual TLS between bridges and @grpc/grpc-js (Node): the certificates sb-certs issues work
for another gRPC implementation, with no code of ours on its side, in both directions.

grpc-js checks a server by the name its certificate holds (``<service>.<trust domain>``, the
DNS SAN), as a bridge's client does; a bridge knows a grpc-js caller by its certificate's SPIFFE
ID. The CA and leaves are written by sb-certs' own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import runtime_lib as sb
from tests.ca import make_ca
from tests.interop.conftest import Interop
from tests.interop.interop_handler import make_handler
from tests.interop.node_peer import node_server, run_client, tls_env

pytestmark = pytest.mark.timeout(120)

TRUST_DOMAIN = "example.org"


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    return make_ca(tmp_path / "certs", TRUST_DOMAIN, "payment", "orders")


@pytest.fixture
def stranger_dir(tmp_path: Path) -> Path:
    """Another CA of the same trust domain name, issuing its own 'orders'."""
    return make_ca(tmp_path / "stranger", TRUST_DOMAIN, "orders")


def payment(
    interop: Interop, cert_dir: Path, transport: sb.NetworkTransport
) -> tuple[sb.Bridge, list[str]]:
    """A TLS bridge serving the interop TestService as ``payment``, and the callers its
    EmptyCall saw."""
    handler: Any = make_handler(interop.sb, interop.pb2)
    callers: list[str] = []
    empty_call = handler.empty_call

    async def recording(request: Any, ctx: sb.CallContext) -> Any:
        callers.append(ctx.caller)
        return await empty_call(request, ctx)

    handler.empty_call = recording
    bridge = sb.Bridge(
        "payment",
        rpc=sb.RpcConfig(transport=transport),
        tls=sb.TlsConfig.from_dir(cert_dir, "payment"),
    )
    bridge.serve(handler)
    return bridge, callers


async def test_a_grpc_js_caller_with_a_service_certificate_is_known_by_it(
    interop: Interop, server_transport: sb.NetworkTransport, node: str, cert_dir: Path
) -> None:
    server, callers = payment(interop, cert_dir, server_transport)
    env = tls_env(cert_dir / "ca.crt", cert_dir / "orders", f"payment.{TRUST_DOMAIN}")
    async with server:
        for case in ("empty_unary", "large_unary", "server_streaming", "ping_pong"):
            failure = await run_client(node, server.address, case, env=env)
            assert not failure, failure
    assert callers == ["orders"]


@pytest.mark.parametrize("who", ["no certificate", "another CA", "expects ledger"])
async def test_a_grpc_js_caller_is_refused_without_our_certificate_or_expecting_another(
    interop: Interop,
    server_transport: sb.NetworkTransport,
    node: str,
    cert_dir: Path,
    stranger_dir: Path,
    who: str,
) -> None:
    server, callers = payment(interop, cert_dir, server_transport)
    ca, expected = cert_dir / "ca.crt", f"payment.{TRUST_DOMAIN}"
    # Each trusts our CA; what it presents, or the server it expects, is wrong.
    env = {
        "no certificate": tls_env(ca, None, expected),
        "another CA": tls_env(ca, stranger_dir / "orders", expected),
        "expects ledger": tls_env(ca, cert_dir / "orders", f"ledger.{TRUST_DOMAIN}"),
    }[who]
    async with server:
        failure = await run_client(node, server.address, "empty_unary", env=env)
    assert "14 UNAVAILABLE" in failure, failure or "the call succeeded"
    assert callers == []


async def test_a_bridge_calls_a_grpc_js_server_holding_payment_and_refuses_one_holding_orders(
    interop: Interop, transport: sb.NetworkTransport, node: str, cert_dir: Path
) -> None:
    honest_env = tls_env(cert_dir / "ca.crt", cert_dir / "payment")
    impostor_env = tls_env(cert_dir / "ca.crt", cert_dir / "orders")
    async with (
        node_server(node, honest_env) as honest,
        node_server(node, impostor_env) as impostor,
        sb.Bridge(
            "orders",
            rpc=sb.RpcConfig(transport=transport),
            tls=sb.TlsConfig.from_dir(cert_dir, "orders"),
        ) as orders,
    ):
        # The grpc-js server requires a client certificate from the CA: the bridge's passes.
        client = orders.client(
            interop.sb.TestServiceClient, address=honest.address, service="payment"
        )
        assert await client.empty_call(interop.pb2.Empty()) == interop.pb2.Empty()
        fake = orders.client(
            interop.sb.TestServiceClient, address=impostor.address, service="payment"
        )
        with pytest.raises(sb.ConnectionFailedError) as refused:
            await fake.empty_call(interop.pb2.Empty(), timeout="5s")
        assert refused.value.not_dispatched
