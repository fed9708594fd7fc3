"""A caller: places orders through the orders service.  python storefront.py ORDERS_ADDRESS COUNT"""

from __future__ import annotations

import asyncio
import sys

import runtime_lib as sb

from gen.shop_pb2 import PlaceOrderRequest
from gen.shop_sb import OrdersClient


async def main(orders_address: str, count: int, certs: str) -> None:
    tls = sb.TlsConfig.from_dir(certs, "storefront")
    async with sb.Bridge("storefront", registry={"orders": [orders_address]}, tls=tls) as bridge:
        orders = bridge.client(OrdersClient, service="orders")
        for i in range(1, count + 1):
            reply = await orders.place_order(
                PlaceOrderRequest(order_id=f"o-{i}", customer="ada", total_cents=1000 * i)
            )
            print(f"storefront: order {reply.order_id} paid ({reply.transaction_id})", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
