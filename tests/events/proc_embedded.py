"""A bridge on the default embedded broker, with no ``data_dir=``: ``subscribe`` prints
``ready``, then ``got <order id>`` for the first event; ``publish ID`` publishes one event and
prints ``published`` once the broker has it."""

from __future__ import annotations

import asyncio
import sys

from runtime_lib import Bridge
from runtime_lib._events.context import EventContext
from tests.events.eventlib import OrderPlaced
from tests.events.helpers import wait_until


async def subscribe() -> None:
    got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        if not got.done():
            got.set_result(event.order_id)

    bridge = Bridge("listener")
    bridge.subscribe(OrderPlaced, handler)
    async with bridge:
        print("ready", flush=True)
        print("got", await got, flush=True)


async def publish(order_id: str) -> None:
    async with Bridge("shop") as bridge:
        await bridge.publish(OrderPlaced(order_id=order_id))

        # Exit only once the broker has it: stop() flushes for a bounded time only, and a row
        # left behind would wait for this service's next start.
        async def drained() -> bool:
            return not sum((await bridge.outbox.counts()).values())

        await wait_until(drained, what="the outbox drained")
        print("published", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "subscribe":
        asyncio.run(subscribe())
    else:
        asyncio.run(publish(sys.argv[2]))
