"""Bridges with ``tls=`` on a secured nats-server: the event bus and the KV registry connect with
the service's certificate, under the permissions ``sb-certs nats-config`` derived."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import runtime_lib as sb
from runtime_lib._nats_server import NatsServer
from tests.events.eventlib import OrderPlaced
from tests.events.helpers import wait_until

from .conftest import tls_url

pytestmark = pytest.mark.timeout(120)

WAIT = 60.0  # an upper bound on waiting for an event, never a measured duration


def bridge(service: str, cert_dir: Path, broker: NatsServer, data_dir: Path) -> sb.Bridge:
    url = tls_url(broker)
    return sb.Bridge(
        service,
        tls=sb.TlsConfig.from_dir(cert_dir, service),
        events=url,
        registry=sb.NatsKvRegistry(url, ttl=60),
        data_dir=data_dir,
    )


async def test_events_and_discovery_flow_over_the_secured_broker(
    provisioned: NatsServer, cert_dir: Path, tmp_path: Path
) -> None:
    payment = bridge("payment", cert_dir, provisioned, tmp_path / "payment")
    orders = bridge("orders", cert_dir, provisioned, tmp_path / "orders")
    received: list[str] = []
    arrived = asyncio.Event()

    async def on_order(event: OrderPlaced, ctx: sb.EventContext) -> None:
        received.append(event.order_id)
        arrived.set()

    payment.subscribe(OrderPlaced, on_order)
    async with payment, orders:
        await orders.publish(OrderPlaced(order_id="o-1"))
        await asyncio.wait_for(arrived.wait(), WAIT)
        # Its own registry entry, written with its certificate, seen by the other service.
        await payment.registry.register("payment", "127.0.0.1:50051", {})
        await wait_until(lambda: bool(orders.registry.instances("payment")), WAIT, "discovery")
    assert received == ["o-1"]
