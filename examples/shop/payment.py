"""The payment service: charges customers.  python payment.py LISTEN DATA_DIR"""

from __future__ import annotations

import asyncio
import sys

from lifecycle import serve_until_stopped

import runtime_lib as sb

from gen.shop_pb2 import ChargeReply, ChargeRequest
from gen.shop_sb import PaymentHandler


class Payment(PaymentHandler):
    async def charge(self, request: ChargeRequest, ctx: sb.CallContext) -> ChargeReply:
        if request.amount_cents <= 0:
            raise sb.HandlerError("INVALID_AMOUNT", "amount must be positive")
        return ChargeReply(transaction_id=f"tx-{ctx.idempotency_key}")


if __name__ == "__main__":
    listen, data_dir, certs = sys.argv[1:4]
    tls = sb.TlsConfig.from_dir(certs, "payment")
    bridge = sb.Bridge("payment", listen=listen, data_dir=data_dir, tls=tls)
    bridge.serve(Payment())
    asyncio.run(serve_until_stopped(bridge))
