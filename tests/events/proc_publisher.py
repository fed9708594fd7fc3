"""Fault-test publisher: publish ``--count`` events durably, then wait until the outbox is empty.

Prints ``published`` once every event is in the outbox and ``drained`` once the broker has them
all. Run with ``--count 0`` to only drain what a previous (killed) run left behind.
"""

from __future__ import annotations

import argparse
import asyncio

from runtime_lib._events.config import EventsConfig
from runtime_lib._events.runtime import EventsRuntime
from tests.events.eventlib import OrderPlaced


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--drain-batch", type=int, default=256)
    parser.add_argument("--outbox-sync", choices=["full", "normal"], default="full")
    args = parser.parse_args()
    runtime = EventsRuntime(
        service="orders",
        data_dir=args.data_dir,
        events=EventsConfig(broker=args.url, outbox_sync=args.outbox_sync),
        drain_batch=args.drain_batch,
        drain_ladder=(0.2,),
    )
    await runtime.start()
    for start in range(0, args.count, 200):
        ids = range(start, min(start + 200, args.count))
        await asyncio.gather(*(runtime.publish(OrderPlaced(order_id=f"o-{i}")) for i in ids))
    print("published", flush=True)
    for _ in range(600):
        if sum((await runtime.outbox.counts()).values()) == 0:
            break
        await asyncio.sleep(0.05)
    print("drained", flush=True)
    await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main())
