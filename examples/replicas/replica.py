"""One replica of the greeter service: registers itself in the NATS registry under "greeter".

python replica.py tls://127.0.0.1:4222 replica-a certs/
"""

from __future__ import annotations

import asyncio
import sys

import runtime_lib as sb

from gen.greeter_pb2 import HelloReply, HelloRequest
from gen.greeter_sb import GreeterHandler


class Greeter(GreeterHandler):
    def __init__(self, replica: str) -> None:
        self.replica = replica

    async def hello(self, request: HelloRequest, ctx: sb.CallContext) -> HelloReply:
        return HelloReply(greeting=f"hello, {request.name}", replica=self.replica)


async def main(nats_url: str, replica: str, certs: str) -> None:
    bridge = sb.Bridge(
        "greeter",
        registry=sb.NatsKvRegistry(nats_url),
        tls=sb.TlsConfig.from_dir(certs, "greeter"),
    )
    bridge.serve(Greeter(replica))
    async with bridge:  # registers on start, withdraws and drains on stop
        print(f"{replica}: serving greeter on {bridge.address}", flush=True)
        await bridge.run_forever()  # until SIGTERM/SIGINT
    print(f"{replica}: stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
