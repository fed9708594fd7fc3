"""The payment service: implements the generated PaymentHandler and serves it over mutual TLS.

python server.py 127.0.0.1:50051 certs/
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator

from google.protobuf.timestamp_pb2 import Timestamp

import runtime_lib as sb

from gen.payment_pb2 import ChargeReply, ChargeRequest, ListChargesRequest
from gen.payment_sb import PaymentHandler


class Payments(PaymentHandler):
    def __init__(self) -> None:
        self.charges: dict[str, list[ChargeReply]] = {}

    async def charge(self, request: ChargeRequest, ctx: sb.CallContext) -> ChargeReply:
        if request.amount <= 0:
            raise sb.HandlerError(
                "INVALID_AMOUNT", f"amount must be positive, got {request.amount}"
            )
        charged_at = Timestamp()
        charged_at.GetCurrentTime()
        reply = ChargeReply(transaction_id=str(uuid.uuid4()), ok=True, charged_at=charged_at)
        self.charges.setdefault(request.user_id, []).append(reply)
        print(
            f"payment: charged {request.amount} {request.currency} for {request.user_id} "
            f"(caller={ctx.caller}, key={ctx.idempotency_key})",
            flush=True,
        )
        return reply

    async def list_charges(
        self, request: ListChargesRequest, ctx: sb.CallContext
    ) -> AsyncIterator[ChargeReply]:
        for reply in reversed(self.charges.get(request.user_id, [])[-request.limit or None :]):
            yield reply

    async def legacy_charge(self, request: ChargeRequest, ctx: sb.CallContext) -> ChargeReply:
        return await self.charge(request, ctx)


async def main(listen: str, certs: str) -> None:
    bridge = sb.Bridge("payment", listen=listen, tls=sb.TlsConfig.from_dir(certs, "payment"))
    bridge.serve(Payments())
    async with bridge:
        print(f"payment: serving on {bridge.address}", flush=True)
        await bridge.run_forever()  # until SIGTERM/SIGINT, then drain in-flight calls and stop
    print("payment: drained and stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
