"""The checkout saga as a workflow graph:

    reserve -> (charge || notify) -> ship -> placed (publish order.placed)

A failure in ``ship`` (or a cancel) refunds the charge and releases the reservation, newest
first. Builders are typed: mypy checks each returns what its method or event takes.
"""

from __future__ import annotations

from runtime_lib.workflows import Call, Publish, RunView, Workflow

from gen.checkout_pb2 import ChargeRequest, Receipt, Reservation, ReserveRequest, ShipRequest
from gen.checkout_sb import (
    InventoryClient,
    NotifyClient,
    OrderPlaced,
    PaymentClient,
    ShippingClient,
)

# Annotated: the compensations below refer back to their own step.
reserve: Call[ReserveRequest, Reservation] = Call(
    id="reserve",
    service="inventory",
    method=InventoryClient.reserve,
    input=lambda run: ReserveRequest(
        order_id=run.input["order_id"], sku=run.input["sku"], quantity=run.input["quantity"]
    ),
    compensate=Call(
        id="release",
        service="inventory",
        method=InventoryClient.release,
        input=lambda run: run.reply(reserve),
    ),
)

charge: Call[ChargeRequest, Receipt] = Call(
    id="charge",
    service="payment",
    method=PaymentClient.charge,
    wait_for=("reserve",),
    input=lambda run: ChargeRequest(
        order_id=run.input["order_id"],
        customer=run.input["customer"],
        amount_cents=run.input["amount_cents"],
    ),
    compensate=Call(
        id="refund",
        service="payment",
        method=PaymentClient.refund,
        input=lambda run: run.reply(charge),
    ),
)

# Declarative input: SB-style JSON paths into the run's input and earlier outputs.
notify = Call(
    id="notify",
    service="notify",
    method=NotifyClient.prepare,
    wait_for=("reserve",),
    input={"order_id": "$.input.order_id", "customer": "$.input.customer"},
)


def _ship_request(run: RunView) -> ShipRequest:
    return ShipRequest(
        order_id=run.input["order_id"],
        reservation_id=run.reply(reserve).reservation_id,
        transaction_id=run.reply(charge).transaction_id,
        quantity=run.input["quantity"],
    )


ship = Call(
    id="ship",
    service="shipping",
    method=ShippingClient.ship,
    wait_for=("charge", "notify"),
    input=_ship_request,
)

placed = Publish(
    id="placed",
    wait_for=("ship",),
    input=lambda run: OrderPlaced(
        order_id=run.input["order_id"],
        transaction_id=run.reply(charge).transaction_id,
        tracking_id=run.reply(ship).tracking_id,
    ),
)

CHECKOUT = Workflow("checkout", steps=(reserve, charge, notify, ship, placed))
