"""TLS on real grpc.aio servers and clients over loopback, with plain generic handlers (no Bridge)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from runtime_lib._errors import ConfigError
from runtime_lib._security import certs
from runtime_lib._security.identity import PeerIdentityError, service_in
from runtime_lib._security.tls import (
    TlsConfig,
    TlsFiles,
    channel_credentials,
    peer_service,
    server_credentials,
    target_options,
)

from .conftest import TRUST_DOMAIN

WHO = "/sbtest.Identity/Who"


@dataclass
class Server:
    files: TlsFiles
    port: int


@contextlib.asynccontextmanager
async def _serve(cert_dir: Path, service: str, trust_domain: str) -> AsyncIterator[Server]:
    """A grpc.aio server holding ``service``'s certificate, answering who called."""

    async def who(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        try:
            return peer_service(context, trust_domain).encode()
        except PeerIdentityError as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, exc.message)

    files = TlsFiles(TlsConfig.from_dir(cert_dir, service))
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "sbtest.Identity", {"Who": grpc.unary_unary_rpc_method_handler(who)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port("127.0.0.1:0", server_credentials(files))
    await server.start()
    try:
        yield Server(files, port)
    finally:
        await server.stop(None)


@pytest.fixture
async def orders_server(cert_dir: Path) -> AsyncIterator[Server]:
    async with _serve(cert_dir, "orders", TRUST_DOMAIN) as server:
        yield server


async def _call(
    port: int, credentials: grpc.ChannelCredentials, options: list[tuple[str, str]]
) -> bytes:
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials, options) as channel:
        who: Callable[..., Awaitable[bytes]] = channel.unary_unary(WHO)
        return await who(b"", timeout=30)


async def test_server_sees_the_verified_caller(cert_dir: Path, orders_server: Server) -> None:
    client = TlsFiles(TlsConfig.from_dir(cert_dir, "payment"))
    reply = await _call(
        orders_server.port, channel_credentials(client), target_options(TRUST_DOMAIN, "orders")
    )
    assert reply == b"payment"


async def test_client_without_a_certificate_is_refused(
    cert_dir: Path, orders_server: Server
) -> None:
    anonymous = grpc.ssl_channel_credentials(root_certificates=(cert_dir / "ca.crt").read_bytes())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(orders_server.port, anonymous, target_options(TRUST_DOMAIN, "orders"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_client_from_another_ca_is_refused(
    cert_dir: Path, stranger_dir: Path, orders_server: Server
) -> None:
    # The stranger trusts our CA (so it could verify the server) but its own cert is foreign.
    stranger = grpc.ssl_channel_credentials(
        root_certificates=(cert_dir / "ca.crt").read_bytes(),
        private_key=(stranger_dir / "payment.key").read_bytes(),
        certificate_chain=(stranger_dir / "payment.crt").read_bytes(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(orders_server.port, stranger, target_options(TRUST_DOMAIN, "orders"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_client_dialling_payment_rejects_the_orders_server(
    cert_dir: Path, orders_server: Server
) -> None:
    client = TlsFiles(TlsConfig.from_dir(cert_dir, "payment"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(
            orders_server.port,
            channel_credentials(client),
            target_options(TRUST_DOMAIN, "payment"),
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def _presented_serial(port: int, cert_dir: Path) -> int:
    """The serial of the certificate the server presents to a new handshake."""
    context = ssl.create_default_context(cafile=cert_dir / "ca.crt")
    context.load_cert_chain(cert_dir / "payment.crt", cert_dir / "payment.key")
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="orders.example.org") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_rotation_while_calls_flow_fails_no_call(
    cert_dir: Path, orders_server: Server
) -> None:
    client = TlsFiles(TlsConfig.from_dir(cert_dir, "payment"))
    options = target_options(TRUST_DOMAIN, "orders")
    results: list[bytes | BaseException] = []
    rotations = 5
    calls_per_rotation = 40

    async def fresh_channels() -> None:
        # One channel per call: every call is a new handshake, so each sees the files of its moment.
        for _ in range(calls_per_rotation):
            try:
                results.append(
                    await _call(orders_server.port, channel_credentials(client), options)
                )
            except grpc.aio.AioRpcError as exc:
                results.append(exc)

    async def open_channel(channel: grpc.aio.Channel) -> None:
        # A connection made before the rotation keeps working through it.
        who: Callable[..., Awaitable[bytes]] = channel.unary_unary(WHO)
        for _ in range(calls_per_rotation):
            try:
                kept.append(await who(b"", timeout=30))
            except grpc.aio.AioRpcError as exc:
                kept.append(exc)

    kept: list[bytes | BaseException] = []
    serials = set()
    address = f"127.0.0.1:{orders_server.port}"
    async with grpc.aio.secure_channel(address, channel_credentials(client), options) as channel:
        for _ in range(rotations):
            calls = asyncio.gather(fresh_channels(), open_channel(channel))
            # Rotate both sides while that batch is in flight.
            await asyncio.to_thread(certs.issue, cert_dir, "orders")
            await asyncio.to_thread(certs.issue, cert_dir, "payment")
            await calls
            serials.add(await asyncio.to_thread(_presented_serial, orders_server.port, cert_dir))

    assert len(kept) == 200
    assert [k for k in kept if k != b"payment"] == []
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(results) == rotations * calls_per_rotation == 200
    assert failures == []
    assert all(r == b"payment" for r in results)
    # The server really changed certificates: one per rotation, each the one on disk then.
    assert len(serials) == rotations
    on_disk = x509.load_pem_x509_certificate((cert_dir / "orders.crt").read_bytes())
    assert on_disk.serial_number in serials
    assert orders_server.files.reloads >= rotations


def _replace(source: Path, target: Path) -> None:
    """Install a file the way rotation tools do: written aside, renamed over the old one."""
    aside = target.with_suffix(".new")
    shutil.copy(source, aside)
    os.replace(aside, target)


async def test_half_rotated_files_keep_the_old_certificate(
    cert_dir: Path, orders_server: Server, tmp_path: Path
) -> None:
    before = await asyncio.to_thread(_presented_serial, orders_server.port, cert_dir)
    # A new certificate whose key has not arrived yet: the server must keep serving the old pair.
    spare = tmp_path / "spare"
    shutil.copytree(cert_dir, spare)
    certs.issue(spare, "orders")
    _replace(spare / "orders.crt", cert_dir / "orders.crt")
    assert await asyncio.to_thread(_presented_serial, orders_server.port, cert_dir) == before
    client = TlsFiles(TlsConfig.from_dir(cert_dir, "payment"))
    options = target_options(TRUST_DOMAIN, "orders")
    assert await _call(orders_server.port, channel_credentials(client), options) == b"payment"
    # The key arrives: the next handshake uses the new pair.
    _replace(spare / "orders.key", cert_dir / "orders.key")
    new = x509.load_pem_x509_certificate((cert_dir / "orders.crt").read_bytes()).serial_number
    assert await asyncio.to_thread(_presented_serial, orders_server.port, cert_dir) == new


def test_load_reports_a_missing_file(cert_dir: Path) -> None:
    (cert_dir / "payment.key").unlink()
    with pytest.raises(ConfigError, match=r"payment\.key: private key not found"):
        TlsConfig.from_dir(cert_dir, "payment").load()


def test_load_reports_a_key_of_another_certificate(cert_dir: Path) -> None:
    config = TlsConfig(
        ca=cert_dir / "ca.crt", cert=cert_dir / "payment.crt", key=cert_dir / "orders.key"
    )
    with pytest.raises(ConfigError, match=r"orders\.key: this key does not belong"):
        config.load()


def test_load_reports_an_expired_certificate(cert_dir: Path) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    certs.issue(cert_dir, "payment", ttl=dt.timedelta(hours=1), now=long_ago)
    with pytest.raises(ConfigError, match=r"payment\.crt: expired at .*renew it"):
        TlsConfig.from_dir(cert_dir, "payment").load()


def test_load_reports_a_certificate_of_another_ca(cert_dir: Path, stranger_dir: Path) -> None:
    config = TlsConfig(
        ca=cert_dir / "ca.crt", cert=stranger_dir / "payment.crt", key=stranger_dir / "payment.key"
    )
    with pytest.raises(ConfigError, match=r"payment\.crt: not issued by the CA in .*ca\.crt"):
        config.load()


def test_load_reports_a_file_that_is_not_pem(cert_dir: Path) -> None:
    (cert_dir / "ca.crt").write_text("hello")
    with pytest.raises(ConfigError, match=r"ca\.crt: no PEM certificate"):
        TlsConfig.from_dir(cert_dir, "payment").load()


def test_load_gives_the_identity_and_trust_domain(cert_dir: Path) -> None:
    material = TlsConfig.from_dir(cert_dir, "payment").load()
    assert (material.service, material.trust_domain) == ("payment", TRUST_DOMAIN)


async def test_caller_of_another_trust_domain_is_refused(cert_dir: Path) -> None:
    # Same CA, but this server belongs to other.org: payment's identity is not one of its own.
    async with _serve(cert_dir, "orders", "other.org") as server:
        client = TlsFiles(TlsConfig.from_dir(cert_dir, "payment"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _call(
                server.port, channel_credentials(client), target_options(TRUST_DOMAIN, "orders")
            )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.details() == (
        "certificate identity spiffe://example.org/service/payment is not in trust domain other.org"
    )


def test_service_in_reads_the_spiffe_id_among_all_the_sans_grpc_reports() -> None:
    # gRPC's peer_identities(): every SAN of the verified certificate, URIs and DNS names mixed.
    names = [b"spiffe://example.org/service/payment", b"payment.example.org"]
    assert service_in(names, TRUST_DOMAIN) == "payment"
    with pytest.raises(PeerIdentityError, match="has 2 SPIFFE URI SANs"):
        service_in([*names, b"spiffe://example.org/service/orders"], TRUST_DOMAIN)
    with pytest.raises(PeerIdentityError, match="has 0 SPIFFE URI SANs"):
        service_in([b"payment.example.org"], TRUST_DOMAIN)
    with pytest.raises(PeerIdentityError, match="does not name a service"):
        service_in([b"spiffe://example.org/workload/payment"], TRUST_DOMAIN)
