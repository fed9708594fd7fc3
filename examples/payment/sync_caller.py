"""The same calls from a plain script, blocking: PaymentSyncClient on a SyncBridge, no asyncio.
This is how a Django or Flask view, a cron job or a notebook calls a service.

python sync_caller.py 127.0.0.1:50051 CERTS_DIR   (certificates made by sb-certs, as run.py does)
"""

from __future__ import annotations

import sys

import runtime_lib as sb

from gen.payment_pb2 import ChargeRequest, ListChargesRequest
from gen.payment_sb import PaymentSyncClient


def main(payment_address: str, certs: str) -> None:
    tls = sb.TlsConfig.from_dir(certs, "billing-script")
    registry = {"payment": [payment_address]}
    with sb.SyncBridge("billing-script", registry=registry, tls=tls) as caller:
        payment = caller.client(PaymentSyncClient, service="payment")

        reply = payment.charge(
            ChargeRequest(user_id="u-2", amount=1500, currency="EUR"),
            idempotency_key="invoice-77",
            timeout="2s",
        )
        print(f"billing: charged, transaction {reply.transaction_id} ok={reply.ok}")

        for charge in payment.list_charges(ListChargesRequest(user_id="u-2", limit=10)):
            print(f"billing: history {charge.transaction_id}")

        try:
            payment.charge(ChargeRequest(user_id="u-2", amount=0, currency="EUR"))
        except sb.HandlerError as exc:
            print(f"billing: refused as expected: {exc.handler_code}: {exc.message}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
