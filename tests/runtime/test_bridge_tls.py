"""Bridges with mutual TLS, over loopback, against callee processes holding real certificates.

Who may connect (a certificate from the CA), who answers (the service the caller meant), who the
caller is (its certificate, whatever ``sb-caller`` says), idempotency per verified caller, and
certificates rotated while calls flow. The CA and leaves are written by ``sb-certs``' own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from cryptography import x509
from echo_service import make_handler, pb
from processes import Callee, start_callee

import runtime_lib as sb
from runtime_lib._security import certs
from tests.ca import make_ca

pytestmark = pytest.mark.timeout(120)

TRUST_DOMAIN = "example.org"
INFO = "/conformance.Callee/Info"


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    return make_ca(tmp_path / "certs", TRUST_DOMAIN, "payment", "orders", "billing")


@pytest.fixture
def stranger_dir(tmp_path: Path) -> Path:
    """Another CA of the same trust domain name, issuing its own 'orders'."""
    return make_ca(tmp_path / "stranger", TRUST_DOMAIN, "orders")


@contextlib.contextmanager
def callee(
    echo_root: Path, service: str, cert_dir: Path | None, transport: str = "grpcio"
) -> Iterator[Callee]:
    """``service`` in a process of its own, serving on ``transport``'s server."""
    process = start_callee(echo_root, service, tls=cert_dir, transport=transport)
    try:
        yield process
    finally:
        process.close()


def tls_bridge(service: str, cert_dir: Path, transport: sb.NetworkTransport) -> sb.Bridge:
    return sb.Bridge(
        service,
        rpc=sb.RpcConfig(transport=transport),
        tls=sb.TlsConfig.from_dir(cert_dir, service),
    )


async def test_caller_is_the_certificate_and_a_forged_sb_caller_changes_nothing(
    echo: ModuleType, echo_root: Path, cert_dir: Path, transport: sb.NetworkTransport
) -> None:
    with callee(echo_root, "payment", cert_dir, transport) as payment:
        async with tls_bridge("orders", cert_dir, transport) as orders:
            client = orders.client(echo.CalleeClient, address=payment.address, service="payment")
            reply = await client.info(pb().Echo(), metadata={"sb-caller": "billing"})
    assert reply.text == "orders"


async def test_a_tls_caller_sends_no_sb_caller_the_server_knows_it_by_its_certificate(
    echo: ModuleType, cert_dir: Path, transport: sb.NetworkTransport
) -> None:
    # The server would ignore the claim, so sending it only costs a metadata entry per call.
    seen: list[tuple[str, list[str], str]] = []
    handler = make_handler(echo)

    async def info(request: object, ctx: sb.CallContext) -> object:
        seen.append((ctx.caller, sorted(ctx.metadata), str(ctx.metadata["sb-call"])))
        return pb().EchoReply(text=ctx.caller)

    handler.info = info
    payment = tls_bridge("payment", cert_dir, transport)
    payment.serve(handler)
    async with payment, tls_bridge("orders", cert_dir, transport) as orders:
        client = orders.client(echo.CalleeClient, address=payment.address, service="payment")
        reply = await client.info(pb().Echo())
    assert reply.text == "orders"
    [(caller, keys, packed)] = seen
    assert caller == "orders"
    assert "sb-caller" not in keys
    # sb-call: <timeout-ms> <contract> <request-id>, and no caller field.
    budget, contract, _request_id = packed.split(" ")
    assert budget.isdigit() and contract.startswith("v2:")


async def test_a_grpcio_caller_is_identified_by_a_grpclib_server(
    echo: ModuleType, echo_root: Path, cert_dir: Path
) -> None:
    """grpc core's client needs the server to select h2 by ALPN, and the grpclib server reads
    the caller from the certificate its handshake verified."""
    with callee(echo_root, "payment", cert_dir, "grpclib") as payment:
        async with tls_bridge("orders", cert_dir, "grpcio") as orders:
            client = orders.client(echo.CalleeClient, address=payment.address, service="payment")
            reply = await client.info(pb().Echo(), metadata={"sb-caller": "billing"})
    assert reply.text == "orders"


async def test_callers_are_told_apart_on_every_call(
    echo: ModuleType, echo_root: Path, cert_dir: Path, transport: sb.NetworkTransport
) -> None:
    # The server keeps the name it read from each certificate: callers taking turns on their
    # open connections must each stay themselves, call after call.
    with callee(echo_root, "payment", cert_dir, transport) as payment:
        async with (
            tls_bridge("orders", cert_dir, transport) as orders,
            tls_bridge("billing", cert_dir, transport) as billing,
        ):
            clients = [
                (
                    bridge.service,
                    bridge.client(echo.CalleeClient, address=payment.address, service="payment"),
                )
                for bridge in (orders, billing)
            ]
            seen = [
                (service, (await client.info(pb().Echo())).text)
                for _ in range(3)
                for service, client in clients
            ]
    assert seen == [(s, s) for _ in range(3) for s in ("orders", "billing")]


async def test_a_client_without_a_certificate_is_refused(
    echo: ModuleType, echo_root: Path, cert_dir: Path, transport: sb.NetworkTransport
) -> None:
    with callee(echo_root, "payment", cert_dir, transport) as payment:
        # A plaintext bridge: no TLS at all.
        async with sb.Bridge("orders", rpc=sb.RpcConfig(transport=transport)) as plain:
            client = plain.client(echo.CalleeClient, address=payment.address)
            with pytest.raises(sb.ConnectionFailedError):
                await client.info(pb().Echo(), timeout="5s")
        # TLS that trusts the CA but presents no certificate of its own.
        ca = (cert_dir / "ca.crt").read_bytes()
        credentials = grpc.ssl_channel_credentials(root_certificates=ca)
        options = [("grpc.ssl_target_name_override", f"payment.{TRUST_DOMAIN}")]
        async with grpc.aio.secure_channel(payment.address, credentials, options) as channel:
            info: Callable[..., Awaitable[bytes]] = channel.unary_unary(INFO)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await info(b"", timeout=10)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_a_client_from_another_ca_is_refused(
    echo: ModuleType,
    echo_root: Path,
    cert_dir: Path,
    stranger_dir: Path,
    transport: sb.NetworkTransport,
) -> None:
    with callee(echo_root, "payment", cert_dir, transport) as payment:
        async with tls_bridge("orders", stranger_dir, transport) as stranger:
            client = stranger.client(echo.CalleeClient, address=payment.address, service="payment")
            with pytest.raises(sb.ConnectionFailedError):
                await client.info(pb().Echo(), timeout="5s")


async def test_a_client_calling_payment_refuses_a_server_holding_orders(
    echo: ModuleType, echo_root: Path, cert_dir: Path, transport: sb.NetworkTransport
) -> None:
    # The impostor is a real TLS bridge of the same CA: only the identity is wrong.
    with callee(echo_root, "orders", cert_dir) as impostor:
        registry = {"payment": [impostor.address]}
        async with sb.Bridge(
            "billing",
            rpc=sb.RpcConfig(transport=transport),
            registry=registry,
            tls=sb.TlsConfig.from_dir(cert_dir, "billing"),
        ) as billing:
            client = billing.client(echo.CalleeClient, service="payment")
            with pytest.raises(sb.ConnectionFailedError) as refused:
                await client.info(pb().Echo(), timeout="5s")
            assert refused.value.not_dispatched
            # The same server, when it is the service meant, answers.
            honest = billing.client(echo.CalleeClient, address=impostor.address, service="orders")
            assert (await honest.info(pb().Echo())).text == "billing"


async def test_idempotent_replies_are_scoped_by_the_verified_caller(
    echo: ModuleType, echo_root: Path, cert_dir: Path
) -> None:
    with callee(echo_root, "payment", cert_dir) as payment:
        async with (
            tls_bridge("orders", cert_dir, "grpcio") as orders,
            tls_bridge("billing", cert_dir, "grpcio") as billing,
        ):
            as_orders = orders.client(echo.CalleeClient, address=payment.address, service="payment")
            as_billing = billing.client(
                echo.CalleeClient, address=payment.address, service="payment"
            )
            first = await as_orders.info(pb().Echo(), idempotency_key="k-1")
            # billing reuses the key and claims to be orders: it must not get orders' reply.
            other = await as_billing.info(
                pb().Echo(), idempotency_key="k-1", metadata={"sb-caller": "orders"}
            )
            again = await as_orders.info(pb().Echo(), idempotency_key="k-1")
            served = await as_orders.stats(pb().Echo(text="info"))
    assert (first.text, other.text, again.text) == ("orders", "billing", "orders")
    assert served.n == 2  # orders' replay came from the cache


def _presented_serial(address: str, cert_dir: Path) -> int:
    """The serial of the certificate the server presents to a new handshake."""
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=cert_dir / "ca.crt")
    context.load_cert_chain(cert_dir / "orders.crt", cert_dir / "orders.key")
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, int(port))) as raw,
        context.wrap_socket(raw, server_hostname=f"payment.{TRUST_DOMAIN}") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_certificates_rotated_while_200_calls_per_second_flow_fail_no_call(
    echo: ModuleType, echo_root: Path, cert_dir: Path, transport: sb.NetworkTransport
) -> None:
    rotations = 4
    failures: list[BaseException] = []
    answered = 0
    running: set[asyncio.Task[None]] = set()
    done = asyncio.Event()

    with callee(echo_root, "payment", cert_dir, transport) as payment:
        async with tls_bridge("orders", cert_dir, transport) as orders:
            client = orders.client(echo.CalleeClient, address=payment.address, service="payment")

            async def one() -> None:
                nonlocal answered
                try:
                    reply = await client.info(pb().Echo(), timeout="30s")
                    assert reply.text == "orders"
                    answered += 1
                except BaseException as exc:
                    failures.append(exc)

            async def load() -> None:
                # 200 calls a second: one every 5 ms, each left to finish on its own.
                while not done.is_set():
                    task = asyncio.create_task(one())
                    running.add(task)
                    task.add_done_callback(running.discard)
                    await asyncio.sleep(0.005)

            flow = asyncio.create_task(load())
            serials = set()
            for _ in range(rotations):
                await asyncio.to_thread(certs.issue, cert_dir, "payment")
                await asyncio.to_thread(certs.issue, cert_dir, "orders")
                # A bridge started now handshakes with the rotated files on both sides.
                async with tls_bridge("orders", cert_dir, transport) as fresh:
                    late = fresh.client(
                        echo.CalleeClient, address=payment.address, service="payment"
                    )
                    assert (await late.info(pb().Echo())).text == "orders"
                serials.add(await asyncio.to_thread(_presented_serial, payment.address, cert_dir))
            done.set()
            await flow
            await asyncio.gather(*running)

    assert failures == []
    assert answered > 0
    # The serving bridge presented each rotated certificate, the one on disk last.
    assert len(serials) == rotations
    on_disk = x509.load_pem_x509_certificate((cert_dir / "payment.crt").read_bytes())
    assert on_disk.serial_number in serials


def test_plaintext_off_loopback_refuses_to_start_unless_insecure() -> None:
    for listen in ("0.0.0.0:0", "[::]:0", "10.1.2.3:50051", "api.example.org:50051"):
        with pytest.raises(sb.ConfigError, match=r"tls=.*insecure=True"):
            sb.Bridge("payment", listen=listen)
    sb.Bridge("payment", listen="0.0.0.0:0", insecure=True)
    for loopback in ("127.0.0.1:0", "127.0.0.2:0", "[::1]:0", "localhost:0"):
        sb.Bridge("payment", listen=loopback)


async def test_plaintext_bridge_serves_off_loopback_when_told_insecure(echo: ModuleType) -> None:
    server = sb.Bridge("echo", listen="0.0.0.0:0", insecure=True)
    server.serve(make_handler(echo))
    async with server, sb.Bridge("caller") as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        assert (await client.info(pb().Echo())).text == "caller"


def test_tls_bridge_serves_anywhere(cert_dir: Path) -> None:
    sb.Bridge("payment", listen="0.0.0.0:0", tls=sb.TlsConfig.from_dir(cert_dir, "payment"))


def test_a_certificate_of_another_service_is_a_config_error(cert_dir: Path) -> None:
    with pytest.raises(sb.ConfigError, match=r"payment.crt: is the certificate of service"):
        sb.Bridge(
            "orders",
            tls=sb.TlsConfig(
                cert_dir / "ca.crt", cert_dir / "payment.crt", cert_dir / "payment.key"
            ),
        )


async def test_a_tls_client_by_address_must_name_the_service_there(
    echo: ModuleType, cert_dir: Path
) -> None:
    async with tls_bridge("orders", cert_dir, "grpcio") as orders:
        client = orders.client(echo.CalleeClient, address="127.0.0.1:1")
        with pytest.raises(sb.ConfigError, match=r"address=\.\.\., service=\.\.\."):
            await client.info(pb().Echo())
