"""Bridges with ``tls=`` on a secured nats-server: the event bus and the KV registry connect with
the service's certificate, under the permissions ``sb-certs nats-config`` derived; and the
embedded broker such bridges start for themselves."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

import runtime_lib as sb
from runtime_lib._security import certs
from runtime_lib._security.embedded_broker import SERVICES_FILE
from runtime_lib._security.nats_auth import ADMIN
from tests.events.eventlib import OrderPlaced
from tests.events.helpers import wait_until

from .conftest import TRUST_DOMAIN, Endpoint, tls_url, write_services

pytestmark = pytest.mark.timeout(120)

WAIT = 60.0  # an upper bound on waiting for an event, never a measured duration
REPO = Path(__file__).parents[2]


def bridge(service: str, cert_dir: Path, broker: Endpoint, data_dir: Path) -> sb.Bridge:
    url = tls_url(broker)
    return sb.Bridge(
        service,
        tls=sb.TlsConfig.from_dir(cert_dir, service),
        events=url,
        registry=sb.NatsKvRegistry(url, ttl=60),
        data_dir=data_dir,
    )


async def test_events_and_discovery_flow_over_the_secured_broker(
    provisioned: Endpoint, cert_dir: Path, tmp_path: Path
) -> None:
    payment = bridge("payment", cert_dir, provisioned, tmp_path / "payment")
    orders = bridge("orders", cert_dir, provisioned, tmp_path / "orders")
    received: list[tuple[str, str]] = []
    arrived = asyncio.Event()

    async def on_order(event: OrderPlaced, ctx: sb.EventContext) -> None:
        received.append((event.order_id, ctx.publisher))  # the broker vouches for the publisher
        arrived.set()

    payment.subscribe(OrderPlaced, on_order)
    async with payment, orders:
        await orders.publish(OrderPlaced(order_id="o-1"))
        await asyncio.wait_for(arrived.wait(), WAIT)
        # Its own registry entry, written with its certificate, seen by the other service.
        await payment.registry.register("payment", "127.0.0.1:50051", {})
        await wait_until(lambda: bool(orders.registry.instances("payment")), WAIT, "discovery")
    assert received == [("o-1", "orders")]


def init_with_services(tmp_path: Path, *services: str) -> Path:
    """``sb-certs init`` and the services' leaves only (the broker's and sb-admin's are issued
    on the spot from the CA key), with :data:`SERVICES` as the services file."""
    cert_dir = tmp_path / "certs"
    certs.init_ca(cert_dir, TRUST_DOMAIN)
    for service in services:
        certs.issue(cert_dir, service)
    write_services(cert_dir)
    return cert_dir


def add_service(cert_dir: Path, service: str, subscribes: list[str]) -> None:
    """What a deployment does to admit a new service: one more entry in the services file."""
    path = cert_dir / SERVICES_FILE
    services = json.loads(path.read_text())
    services[service] = {"publishes": [], "subscribes": subscribes}
    path.write_text(json.dumps(services))


def embedded_bridge(service: str, cert_dir: Path, data_dir: Path) -> sb.Bridge:
    return sb.Bridge(service, tls=sb.TlsConfig.from_dir(cert_dir, service), data_dir=data_dir)


async def test_bridges_with_tls_share_a_secured_embedded_broker(tmp_path: Path) -> None:
    cert_dir = init_with_services(tmp_path, "payment", "orders")
    shared = tmp_path / "data"
    payment = embedded_bridge("payment", cert_dir, shared)
    orders = embedded_bridge("orders", cert_dir, shared)
    received: list[tuple[str, str]] = []
    arrived = asyncio.Event()

    async def on_order(event: OrderPlaced, ctx: sb.EventContext) -> None:
        received.append((event.order_id, ctx.publisher))
        arrived.set()

    payment.subscribe(OrderPlaced, on_order)
    async with payment, orders:
        await orders.publish(OrderPlaced(order_id="o-1"))
        await asyncio.wait_for(arrived.wait(), WAIT)
        state = json.loads((shared / "nats" / "server.json").read_text())
        url = f"tls://{state['host']}:{state['port']}"
        # Without a certificate nothing gets in (what it could not do: test_nats_auth.py).
        with pytest.raises(sb.ConfigError, match="no client certificate"):
            await sb.NatsKvRegistry(url).start()
        # A bridge without tls= does not join it.
        plain = sb.Bridge("audit", data_dir=shared)
        plain.subscribe(OrderPlaced, on_order)
        with pytest.raises(sb.ConfigError, match="requires TLS"):
            await plain.start()
        await plain.stop()
    assert received == [("o-1", "orders")]
    assert (cert_dir / "nats.crt").exists() and (cert_dir / f"{ADMIN}.crt").exists()


async def test_processes_share_the_secured_embedded_broker(cert_dir: Path, tmp_path: Path) -> None:
    """payment's process starts (and provisions) the broker; orders, in this one, joins it."""
    write_services(cert_dir)
    shared = tmp_path / "data"
    subscriber = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.security.proc_tls_subscriber", str(cert_dir), str(shared)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert subscriber.stdout is not None
        line = await asyncio.wait_for(subscriber.stdout.readline(), WAIT)
        assert line.decode().strip() == "ready"
        async with embedded_bridge("orders", cert_dir, shared) as orders:
            await orders.publish(OrderPlaced(order_id="o-7"))
            out, err = await asyncio.wait_for(subscriber.communicate(), WAIT)
        assert out.decode().strip() == "got o-7 orders", err.decode()
    finally:
        if subscriber.returncode is None:
            subscriber.kill()
            await subscriber.wait()


async def test_a_service_added_to_the_file_joins_the_running_embedded_broker(
    tmp_path: Path,
) -> None:
    """audit, added to services.json while payment and orders use the broker, gets in: the
    joining bridge rewrites the broker's config and has it reload, no restart. Before, the
    running broker refused audit's certificate until every process had stopped."""
    cert_dir = init_with_services(tmp_path, "payment", "orders", "audit")
    shared = tmp_path / "data"
    received: list[tuple[str, str]] = []
    arrived = asyncio.Event()

    async def on_order(event: OrderPlaced, ctx: sb.EventContext) -> None:
        received.append((event.order_id, ctx.publisher))
        arrived.set()

    payment = embedded_bridge("payment", cert_dir, shared)
    payment.subscribe(OrderPlaced, on_nothing)
    orders = embedded_bridge("orders", cert_dir, shared)
    async with payment, orders:
        pid = json.loads((shared / "nats" / "server.json").read_text())["pid"]
        add_service(cert_dir, "audit", subscribes=["order.placed"])
        audit = embedded_bridge("audit", cert_dir, shared)
        audit.subscribe(OrderPlaced, on_order)
        async with audit:
            await orders.publish(OrderPlaced(order_id="o-9"))
            await asyncio.wait_for(arrived.wait(), WAIT)
        # The same broker, reloaded, not a new one.
        assert json.loads((shared / "nats" / "server.json").read_text())["pid"] == pid
        assert "Reloaded server configuration" in (shared / "nats" / "nats.log").read_text()
    assert received == [("o-9", "orders")]


async def test_a_broker_that_cannot_confirm_a_reload_is_joined_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker started without a log (an older sb-gen) is not signalled: a service already in
    its config still joins, and the warning says a restart applies the file."""
    cert_dir = init_with_services(tmp_path, "payment", "orders")
    shared = tmp_path / "data"
    payment = embedded_bridge("payment", cert_dir, shared)
    payment.subscribe(OrderPlaced, on_nothing)
    async with payment:
        (shared / "nats" / "nats.log").unlink()
        add_service(cert_dir, "audit", subscribes=[])
        async with embedded_bridge("orders", cert_dir, shared) as orders:
            await orders.publish(OrderPlaced(order_id="o-1"))
    assert "runs with permissions older than the services file" in caplog.text


async def test_the_embedded_broker_names_what_it_is_missing(tmp_path: Path) -> None:
    cert_dir = tmp_path / "certs"
    certs.init_ca(cert_dir, TRUST_DOMAIN)
    certs.issue(cert_dir, "payment")
    certs.issue(cert_dir, "billing")

    async def start_fails(service: str) -> str:
        bridge = embedded_bridge(service, cert_dir, tmp_path / "data")
        bridge.subscribe(OrderPlaced, on_nothing)
        with pytest.raises(sb.ConfigError) as caught:
            await bridge.start()
        await bridge.stop()
        return caught.value.message

    services = cert_dir / SERVICES_FILE
    assert f"{services}: not found" in await start_fails("payment")
    write_services(cert_dir)
    assert f"{services}: no entry for service 'billing'" in await start_fails("billing")
    # Without the CA key here, the broker's certificate cannot be made on the spot.
    (cert_dir / "ca.key").rename(tmp_path / "ca.key")
    assert "sb-certs issue nats" in await start_fails("payment")


async def on_nothing(event: OrderPlaced, ctx: sb.EventContext) -> None:
    del event, ctx


async def test_a_bridge_with_tls_does_not_join_a_plaintext_embedded_broker(
    cert_dir: Path, tmp_path: Path
) -> None:
    write_services(cert_dir)
    shared = tmp_path / "data"
    plain = sb.Bridge("audit", data_dir=shared)
    plain.subscribe(OrderPlaced, on_nothing)
    async with plain:
        secured = embedded_bridge("payment", cert_dir, shared)
        secured.subscribe(OrderPlaced, on_nothing)
        with pytest.raises(sb.ConfigError, match="runs without TLS"):
            await secured.start()
        await secured.stop()
