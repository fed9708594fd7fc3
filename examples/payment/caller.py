"""A caller in another process: finds "payment" by name and calls it with typed messages, over
mutual TLS (only a server holding payment's certificate is accepted).

python caller.py 127.0.0.1:50051 certs/
"""

from __future__ import annotations

import asyncio
import sys

import runtime_lib as sb

from gen.payment_pb2 import ChargeRequest, ListChargesRequest
from gen.payment_sb import PaymentClient


async def main(payment_address: str, certs: str) -> None:
    tls = sb.TlsConfig.from_dir(certs, "checkout")
    async with sb.Bridge("checkout", registry={"payment": [payment_address]}, tls=tls) as bridge:
        payment = bridge.client(PaymentClient, service="payment")

        reply = await payment.charge(
            ChargeRequest(user_id="u-1", amount=4200, currency="EUR"),
            idempotency_key="order-1001",
            timeout="2s",
        )
        print(f"checkout: charged, transaction {reply.transaction_id} ok={reply.ok}")
        await payment.charge(ChargeRequest(user_id="u-1", amount=990, currency="EUR"))

        async for charge in payment.list_charges(ListChargesRequest(user_id="u-1", limit=10)):
            print(f"checkout: history {charge.transaction_id}")

        try:
            await payment.charge(ChargeRequest(user_id="u-1", amount=-5, currency="EUR"))
        except sb.HandlerError as exc:
            print(f"checkout: refused as expected: {exc.handler_code}: {exc.message}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
