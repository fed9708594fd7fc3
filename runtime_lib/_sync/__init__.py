"""Sync clients: generated ``XSyncClient`` classes calling services from scripts and sync
frameworks (Django, Flask) on grpcio's blocking API, with no event loop behind the caller's back.

    with sb.SyncBridge("script", registry={"payment": ["127.0.0.1:50051"]}) as caller:
        payment = caller.client(PaymentSyncClient, service="payment")
        receipt = payment.charge(ChargeRequest(...), timeout="2s")
"""

from runtime_lib._sync.bridge import SyncBridge
from runtime_lib._sync.client import SyncClientBase, SyncInvokerProtocol

__all__ = ["SyncBridge", "SyncClientBase", "SyncInvokerProtocol"]
