"""The services the checkout saga calls, each counting the effects it makes in a ``Ledger``.

A handler records its effect only once it has made it, so a call cancelled midway (its caller
died) leaves no record, as a database transaction would leave no row.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import runtime_lib as sb
from runtime_lib import codegen

from gen.checkout_pb2 import (
    ChargeRequest,
    Prepared,
    PrepareRequest,
    Receipt,
    Refunded,
    Released,
    Reservation,
    ReserveRequest,
    Shipment,
    ShipRequest,
)
from gen.checkout_sb import InventoryHandler, NotifyHandler, PaymentHandler, ShippingHandler

MAX_PARCEL = 100  # Shipping refuses heavier orders, which makes the saga compensate


class Ledger:
    """Effects by ``"<what> <order id>"``, in the order they happened."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.order: list[str] = []

    def record(self, what: str, order_id: str) -> None:
        self.counts[f"{what} {order_id}"] += 1
        self.order.append(f"{what} {order_id}")


class Inventory(InventoryHandler):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def reserve(self, request: ReserveRequest, ctx: sb.CallContext) -> Reservation:
        self.ledger.record("reserve", request.order_id)
        return Reservation(reservation_id=f"r-{request.order_id}", order_id=request.order_id)

    async def release(self, request: Reservation, ctx: sb.CallContext) -> Released:
        self.ledger.record("release", request.order_id)
        return Released(reservation_id=request.reservation_id)


class Payment(PaymentHandler):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def charge(self, request: ChargeRequest, ctx: sb.CallContext) -> Receipt:
        self.ledger.record("charge", request.order_id)
        return Receipt(transaction_id=f"tx-{request.order_id}", amount_cents=request.amount_cents)

    async def refund(self, request: Receipt, ctx: sb.CallContext) -> Refunded:
        self.ledger.record("refund", request.transaction_id.removeprefix("tx-"))
        return Refunded(transaction_id=request.transaction_id)


class Notify(NotifyHandler):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def prepare(self, request: PrepareRequest, ctx: sb.CallContext) -> Prepared:
        self.ledger.record("notify", request.order_id)
        return Prepared(message_id=f"m-{request.order_id}")


class Shipping(ShippingHandler):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def ship(self, request: ShipRequest, ctx: sb.CallContext) -> Shipment:
        if request.quantity > MAX_PARCEL:
            raise sb.HandlerError("TOO_HEAVY", f"at most {MAX_PARCEL} items per parcel")
        self.ledger.record("ship", request.order_id)
        return Shipment(tracking_id=f"t-{request.order_id}")


def handlers(ledger: Ledger) -> dict[str, codegen.HandlerBase]:
    """Each service's handler by service name, all recording into ``ledger``."""
    return {
        "inventory": Inventory(ledger),
        "payment": Payment(ledger),
        "notify": Notify(ledger),
        "shipping": Shipping(ledger),
    }


@contextlib.asynccontextmanager
async def serve(
    by_service: dict[str, codegen.HandlerBase], telemetry: sb.TelemetryConfig | None = None
) -> AsyncIterator[dict[str, list[str]]]:
    """One bridge per service; yields the registry map (service -> [address]) of them all."""
    async with contextlib.AsyncExitStack() as stack:
        registry: dict[str, list[str]] = {}
        for name, handler in by_service.items():
            bridge = sb.Bridge(name, telemetry=telemetry)
            bridge.serve(handler)
            await stack.enter_async_context(bridge)
            registry[name] = [bridge.address]
        yield registry
