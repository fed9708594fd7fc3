"""mypy --strict checks what a step sends: a builder returning the wrong message is an error."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.generator.tools import run_mypy
from tests.workflows.saga import EXAMPLE

WRONG = """
from gen.checkout_pb2 import ReserveRequest
from gen.checkout_sb import OrderPlaced, PaymentClient

from runtime_lib.workflows import Call, Publish

charge = Call(
    id="charge",
    service="payment",
    method=PaymentClient.charge,
    input=lambda run: ReserveRequest(order_id="o-1"),
)
placed: Publish[OrderPlaced] = Publish(id="placed", input=lambda run: ReserveRequest())
"""


async def test_mypy_accepts_the_example_and_rejects_a_mistyped_builder(saga_root: Path) -> None:
    (saga_root / "wrong.py").write_text(WRONG)
    example = [EXAMPLE / n for n in ("checkout_saga.py", "checkout_services.py", "run.py")]
    good = await asyncio.to_thread(run_mypy, *example, cwd=saga_root)
    assert good.returncode == 0, good.stdout
    bad = await asyncio.to_thread(run_mypy, saga_root / "wrong.py", cwd=saga_root)
    assert bad.returncode == 1
    # The Call: ReserveRequest is not what PaymentClient.charge takes, so no Req fits both.
    assert 'wrong.py:7: error: Cannot infer value of type parameter "Req" of "Call"' in bad.stdout
    assert 'wrong.py:13: error: Argument "input"' in bad.stdout
    assert '(got "ReserveRequest", expected "OrderPlaced")' in bad.stdout
