"""A user's own service, outside the repo, type-checks with ``mypy --strict`` against the install
the README shows (``pip install -e`` with ``editable_mode=strict``: a path mypy can follow)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.generator.tools import REPO

SERVICE = '''\
"""A payment service and a caller, as a user writes them."""

from collections.abc import AsyncIterator

import runtime_lib as sb
from gen.payment_pb2 import ChargeReply, ChargeRequest, ListChargesRequest
from gen.payment_sb import PaymentClient, PaymentHandler


class Payments(PaymentHandler):
    async def charge(self, request: ChargeRequest, ctx: sb.CallContext) -> ChargeReply:
        if request.amount <= 0:
            raise sb.HandlerError("INVALID_AMOUNT", "amount must be positive")
        return ChargeReply(transaction_id=f"tx-{request.user_id}", ok=True)

    async def list_charges(
        self, request: ListChargesRequest, ctx: sb.CallContext
    ) -> AsyncIterator[ChargeReply]:
        yield ChargeReply(transaction_id="tx-1", ok=True)

    async def legacy_charge(self, request: ChargeRequest, ctx: sb.CallContext) -> ChargeReply:
        return await self.charge(request, ctx)


async def checkout(bridge: sb.Bridge) -> str:
    payment = bridge.client(PaymentClient, service="payment")
    reply = await payment.charge(
        ChargeRequest(user_id="u-1", amount=4200), timeout="2s", retry=sb.RetryPolicy()
    )
    return reply.transaction_id


async def main() -> None:
    bridge = sb.Bridge("payment", listen="127.0.0.1:0")
    bridge.serve(Payments())
    async with bridge:
        print(await checkout(bridge))
'''


def test_user_service_outside_the_repo_passes_mypy_strict(tmp_path: Path) -> None:
    work = tmp_path / "my-service"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=work, capture_output=True, text=True, timeout=300, env=env, check=False
        )

    generated = run("sb-gen", str(REPO / "protos" / "payment.proto"), "-o", "gen")
    assert generated.returncode == 0, generated.stderr
    (work / "service.py").write_text(SERVICE)

    typed = run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", ".")
    assert typed.returncode == 0, (
        typed.stdout + "\n(runtime_lib not found? reinstall as the README says: "
        "pip install -e '.[test]' --config-settings editable_mode=strict)"
    )
    assert "Success: no issues found" in typed.stdout
