"""A bridge with ``tls=`` on the embedded broker of a data dir, in its own process:
``python -m tests.security.proc_tls_subscriber <certs> <data dir>`` prints ``ready`` once
subscribed, then ``got <order id> <publisher>`` for the first event, and exits."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from runtime_lib import Bridge, EventContext, TlsConfig
from tests.events.eventlib import OrderPlaced


async def subscribe(cert_dir: Path, data_dir: Path) -> None:
    got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        if not got.done():
            got.set_result(f"{event.order_id} {ctx.publisher}")

    bridge = Bridge("payment", tls=TlsConfig.from_dir(cert_dir, "payment"), data_dir=data_dir)
    bridge.subscribe(OrderPlaced, handler)
    async with bridge:
        print("ready", flush=True)
        print("got", await got, flush=True)


if __name__ == "__main__":
    asyncio.run(subscribe(Path(sys.argv[1]), Path(sys.argv[2])))
