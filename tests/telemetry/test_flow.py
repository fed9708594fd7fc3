"""One trace across every hop of the shop flow: storefront -> orders -> payment (RPC), then
``order.placed`` -> notifications (event), on real gRPC and the in-memory event bus, with the
memory exporter. Asserts the exact span tree, including a failed call and a dead letter."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

import runtime_lib as sb
from tests.events.helpers import wait_until
from tests.generator.tools import REPO, sb_gen

from .helpers import one, span_id, tree

MEMORY = sb.TelemetryConfig(exporter="memory")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """examples/shop/shop.proto generated into a package of its own (``sbtel_shop``)."""
    root = tmp_path_factory.mktemp("shop")
    result = sb_gen(REPO / "examples" / "shop" / "shop.proto", "-o", root / "sbtel_shop", cwd=root)
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("sbtel_shop.shop_sb")
    finally:
        sys.path.remove(str(root))


def _services(shop: ModuleType, notified: list[str]) -> tuple[Any, Any, Any]:
    pb = importlib.import_module("sbtel_shop.shop_pb2")

    class Payment(shop.PaymentHandler):  # type: ignore[misc, name-defined]
        async def charge(self, request: Any, ctx: sb.CallContext) -> Any:
            if request.amount_cents > 10_000:
                raise sb.HandlerError("CARD_DECLINED", "over the card's limit")
            return pb.ChargeReply(transaction_id=f"tx-{request.customer}")

    class Orders(shop.OrdersHandler):  # type: ignore[misc, name-defined]
        def __init__(self, bridge: sb.Bridge) -> None:
            self.bridge = bridge
            self.payment = bridge.client(shop.PaymentClient, service="payment")

        async def place_order(self, request: Any, ctx: sb.CallContext) -> Any:
            charge = await self.payment.charge(
                pb.ChargeRequest(customer=request.customer, amount_cents=request.total_cents)
            )
            await self.bridge.publish(
                shop.OrderPlaced(
                    order_id=request.order_id,
                    customer=request.customer,
                    transaction_id=charge.transaction_id,
                )
            )
            return pb.PlaceOrderReply(
                order_id=request.order_id, transaction_id=charge.transaction_id
            )

    async def notify(event: Any, ctx: sb.EventContext) -> None:
        if event.customer == "mallory":
            raise RuntimeError("mail server refused the address")
        notified.append(event.order_id)

    return Payment, Orders, notify


def _by_trace(spans: list[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    traces: dict[int, list[ReadableSpan]] = {}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        assert span.context is not None
        traces.setdefault(span.context.trace_id, []).append(span)
    return traces


async def test_shop_flow_is_one_trace_per_order(shop: ModuleType, tmp_path: Path) -> None:
    notified: list[str] = []
    payment_handler, orders_handler, notify = _services(shop, notified)
    pb = importlib.import_module("sbtel_shop.shop_pb2")
    common: dict[str, Any] = {"events": "memory", "telemetry": MEMORY}

    payment = sb.Bridge("payment", data_dir=tmp_path / "payment", **common)
    payment.serve(payment_handler())
    notifications = sb.Bridge(
        "notifications",
        data_dir=tmp_path / "notifications",
        events=sb.EventsConfig(broker="memory", max_attempts=1),
        telemetry=MEMORY,
    )
    notifications.subscribe(shop.OrderPlaced, notify)
    async with payment, notifications:
        orders = sb.Bridge(
            "orders",
            registry={"payment": [payment.address]},
            data_dir=tmp_path / "orders",
            **common,
        )
        orders.serve(orders_handler(orders))
        async with orders:
            storefront = sb.Bridge("storefront", registry={"orders": [orders.address]}, **common)
            async with storefront:
                client = storefront.client(shop.OrdersClient, service="orders")
                for order_id, customer, cents in [
                    ("o-1", "alice", 4_200),
                    ("o-2", "bob", 99_000),  # declined by payment
                    ("o-3", "mallory", 1_000),  # its notification is dead-lettered
                ]:
                    request = pb.PlaceOrderRequest(
                        order_id=order_id, customer=customer, total_cents=cents
                    )
                    try:
                        with storefront.telemetry.op("checkout", business_key=order_id):
                            await client.place_order(request)
                    except sb.HandlerError as exc:
                        assert exc.handler_code == "CARD_DECLINED"

                consumed = notifications.telemetry.memory
                await wait_until(lambda: len(consumed.spans()) == 2, what="two deliveries")
                assert (await notifications.events.dead_letters())[0].reason == (
                    "RuntimeError: mail server refused the address"
                )

    bridges = (storefront, orders, payment, notifications)
    spans = [s for bridge in bridges for s in bridge.telemetry.memory.spans()]
    traces = list(_by_trace(spans).values())
    assert len(traces) == 3

    placed, declined, dead = traces
    ok_tree = [
        (0, "INTERNAL", "checkout", "UNSET"),
        (1, "CLIENT", "shop.Orders/PlaceOrder", "UNSET"),
        (2, "SERVER", "shop.Orders/PlaceOrder", "UNSET"),
        (3, "CLIENT", "shop.Payment/Charge", "UNSET"),
        (4, "SERVER", "shop.Payment/Charge", "UNSET"),
        (3, "PRODUCER", "publish order.placed", "UNSET"),
        (4, "CONSUMER", "process order.placed", "UNSET"),
    ]
    assert tree(placed) == ok_tree
    assert tree(declined) == [
        (0, "INTERNAL", "checkout", "ERROR"),
        (1, "CLIENT", "shop.Orders/PlaceOrder", "ERROR"),
        (2, "SERVER", "shop.Orders/PlaceOrder", "ERROR"),
        (3, "CLIENT", "shop.Payment/Charge", "ERROR"),
        (4, "SERVER", "shop.Payment/Charge", "ERROR"),
    ]
    assert tree(dead) == [*ok_tree[:-1], (4, "CONSUMER", "process order.placed", "ERROR")]

    # Each span is reported by the service that ran it.
    services = [(s.name, s.kind.name, s.resource.attributes["service.name"]) for s in placed]
    assert services == [
        ("checkout", "INTERNAL", "storefront"),
        ("shop.Orders/PlaceOrder", "CLIENT", "storefront"),
        ("shop.Orders/PlaceOrder", "SERVER", "orders"),
        ("shop.Payment/Charge", "CLIENT", "orders"),
        ("shop.Payment/Charge", "SERVER", "payment"),
        ("publish order.placed", "PRODUCER", "orders"),
        ("process order.placed", "CONSUMER", "notifications"),
    ]

    # The declined charge: the handler's error on both sides of both calls.
    charge = one(declined, "shop.Payment/Charge", "SERVER")
    assert charge.attributes is not None and charge.attributes["error.type"] == "HANDLER"
    assert charge.status.description == "HANDLER CARD_DECLINED: over the card's limit"
    caller = one(declined, "shop.Payment/Charge", "CLIENT")
    assert caller.attributes is not None and caller.attributes["server.address"] == "127.0.0.1"
    assert [e.name for e in caller.events] == ["attempt", "exception"]

    # The delivery links to the publish, and the dead letter says why.
    producer = one(dead, "publish order.placed")
    consumer = one(dead, "process order.placed")
    assert [link.context.span_id for link in consumer.links] == [span_id(producer)]
    assert [e.name for e in consumer.events] == ["exception", "dead_letter"]
    assert consumer.status.description == (
        "dead-lettered: RuntimeError: mail server refused the address"
    )
    assert notified == ["o-1"]

    # Metrics of the same flow.
    def total(bridge: sb.Bridge, name: str) -> int:
        return sum(p.value for _, p in bridge.telemetry.memory.metrics()[name])

    assert total(orders, "sb.events.published") == 2
    assert total(notifications, "sb.events.delivered") == 1
    assert total(notifications, "sb.events.dead_lettered") == 1
    codes = {
        a["rpc.grpc.status_code"]: p.count
        for a, p in payment.telemetry.memory.metrics()["rpc.server.call.duration"]
    }
    assert codes == {0: 2, 2: 1}
