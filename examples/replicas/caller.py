"""Calls "greeter" by name; the registry finds both replicas and the balancer spreads the calls.

python caller.py tls://127.0.0.1:4222 certs/
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

import runtime_lib as sb

from gen.greeter_pb2 import HelloRequest
from gen.greeter_sb import GreeterClient


async def main(nats_url: str, certs: str) -> None:
    tls = sb.TlsConfig.from_dir(certs, "caller")
    async with sb.Bridge("caller", registry=sb.NatsKvRegistry(nats_url), tls=tls) as bridge:
        greeter = bridge.client(GreeterClient, service="greeter")
        replies = await asyncio.gather(
            *(greeter.hello(HelloRequest(name=f"user-{i}"), timeout="30s") for i in range(20))
        )
        print(f"caller: 20 calls answered by {dict(Counter(r.replica for r in replies))}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
