"""Starts a bridge, publishes one event, and returns without ``stop()``: the process must exit."""

from __future__ import annotations

import asyncio
import sys

from runtime_lib import Bridge
from tests.events.eventlib import OrderPlaced


async def main(data_dir: str) -> None:
    bridge = Bridge("orders", events="memory", data_dir=data_dir)
    await bridge.start()
    await bridge.publish(OrderPlaced(order_id="1"))
    print("published", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
