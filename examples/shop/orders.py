"""The orders service: charges through payment (RPC), then publishes ``order.placed``.

python orders.py LISTEN PAYMENT_ADDRESS DATA_DIR
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from lifecycle import serve_until_stopped

import runtime_lib as sb

from gen.shop_pb2 import ChargeRequest, PlaceOrderReply, PlaceOrderRequest
from gen.shop_sb import OrderPlaced, OrdersHandler, PaymentClient


class Orders(OrdersHandler):
    def __init__(self, bridge: sb.Bridge) -> None:
        self.bridge = bridge
        self.payment = bridge.client(PaymentClient, service="payment")

    async def place_order(self, request: PlaceOrderRequest, ctx: sb.CallContext) -> PlaceOrderReply:
        charge = await self.payment.charge(
            ChargeRequest(customer=request.customer, amount_cents=request.total_cents),
            idempotency_key=f"order-{request.order_id}",  # a retried charge never bills twice
        )
        await self.bridge.publish(
            OrderPlaced(
                order_id=request.order_id,
                customer=request.customer,
                total_cents=request.total_cents,
                transaction_id=charge.transaction_id,
                placed_at=datetime.now(UTC),
            ),
            idempotency_key=f"order-placed-{request.order_id}",
        )
        return PlaceOrderReply(order_id=request.order_id, transaction_id=charge.transaction_id)


if __name__ == "__main__":
    listen, payment_address, data_dir, certs = sys.argv[1:5]
    bridge = sb.Bridge(
        "orders",
        listen=listen,
        registry={"payment": [payment_address]},
        data_dir=data_dir,
        tls=sb.TlsConfig.from_dir(certs, "orders"),
    )
    bridge.serve(Orders(bridge))
    asyncio.run(serve_until_stopped(bridge))
