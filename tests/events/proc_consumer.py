"""Fault-test consumer: one instance of service ``sink``; appends a JSON line per handled event.

``--hang ID`` makes the handler for order ``ID`` log ``started`` and never finish, so the test can
kill the process in the middle of it. Prints ``ready`` once subscribed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

from runtime_lib._events.context import EventContext
from runtime_lib._events.runtime import EventsRuntime
from tests.events.eventlib import OrderPlaced


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--hang", default="")
    parser.add_argument("--ack-wait", type=float, default=30.0)
    args = parser.parse_args()

    def log(**fields: object) -> None:
        with open(args.out, "a") as out:
            out.write(json.dumps({"pid": os.getpid(), **fields}) + "\n")

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        if event.order_id == args.hang:
            log(order_id=event.order_id, state="started", attempt=ctx.attempt)
            await asyncio.sleep(3600)
        log(order_id=event.order_id, state="done", attempt=ctx.attempt)

    runtime = EventsRuntime(
        service="sink", data_dir=args.data_dir, events=args.url, ack_wait=args.ack_wait
    )
    runtime.subscribe(OrderPlaced, handler)
    await runtime.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main())
