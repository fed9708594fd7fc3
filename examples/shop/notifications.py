"""The notifications service: tells customers about their orders.  python notifications.py DATA_DIR"""

from __future__ import annotations

import asyncio
import sys

from lifecycle import serve_until_stopped

import runtime_lib as sb

from gen.shop_sb import OrderPlaced


async def on_order_placed(event: OrderPlaced, ctx: sb.EventContext) -> None:
    print(
        f"notifications: {event.customer}, order {event.order_id} "
        f"({event.total_cents / 100:.2f}) is confirmed [event {ctx.event_id} from "
        f"{ctx.publisher}, attempt {ctx.attempt}]",
        flush=True,
    )


if __name__ == "__main__":
    data_dir, certs = sys.argv[1:3]
    tls = sb.TlsConfig.from_dir(certs, "notifications")
    bridge = sb.Bridge("notifications", data_dir=data_dir, tls=tls)
    bridge.subscribe(OrderPlaced, on_order_placed)
    asyncio.run(serve_until_stopped(bridge))
