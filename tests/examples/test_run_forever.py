"""``await bridge.run_forever()`` in a real process: SIGTERM while a call is in flight lets the
call finish (the drain), then the process exits 0."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import runtime_lib as sb
from tests.generator.tools import REPO, sb_gen

PACKAGE = "payment_gen_run_forever"  # unique: other tests import their own generated packages

# The service process. Its registry prints the address when the bridge registers (so the test
# knows it listens) and releases the held call when the bridge withdraws, which stop() does
# first: the call is still in flight when the drain begins, whatever the scheduling.
SERVICE = f"""
import asyncio
from collections.abc import AsyncIterator, Mapping

import runtime_lib as sb
from {PACKAGE}.payment_pb2 import ChargeReply, ChargeRequest, ListChargesRequest
from {PACKAGE}.payment_sb import PaymentHandler

withdrawn = asyncio.Event()


class Registry(sb.StaticRegistry):
    async def register(self, service: str, address: str, methods: Mapping[str, str]) -> None:
        print("LISTENING", address, flush=True)

    async def stop(self) -> None:
        withdrawn.set()


class Payments(PaymentHandler):
    async def charge(self, request: ChargeRequest, ctx: sb.CallContext) -> ChargeReply:
        print("CHARGING", flush=True)
        await withdrawn.wait()
        return ChargeReply(transaction_id="tx-" + request.user_id, ok=True)

    async def list_charges(
        self, request: ListChargesRequest, ctx: sb.CallContext
    ) -> AsyncIterator[ChargeReply]:
        yield ChargeReply()

    async def legacy_charge(self, request: ChargeRequest, ctx: sb.CallContext) -> ChargeReply:
        return await self.charge(request, ctx)


async def main() -> None:
    bridge = sb.Bridge("payment", registry=Registry())
    bridge.serve(Payments())
    await bridge.run_forever()
    print("STOPPED", flush=True)


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ModuleType]]:
    root = tmp_path_factory.mktemp("run_forever")
    made = sb_gen(REPO / "protos" / "payment.proto", "-o", root / PACKAGE, cwd=root)
    assert made.returncode == 0, made.stderr
    sys.path.insert(0, str(root))
    try:
        yield root, importlib.import_module(f"{PACKAGE}.payment_sb")
    finally:
        sys.path.remove(str(root))


async def expect_line(stream: asyncio.StreamReader, prefix: str) -> str:
    line = (await asyncio.wait_for(stream.readline(), 60)).decode()
    assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}"
    return line


@pytest.mark.timeout(120)
async def test_sigterm_drains_the_call_in_flight_and_exits_0(
    generated: tuple[Path, ModuleType],
) -> None:
    root, payment_sb = generated
    payment_pb2 = importlib.import_module(f"{PACKAGE}.payment_pb2")
    (root / "service.py").write_text(SERVICE)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "service.py",
        cwd=root,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)])},
    )
    assert process.stdout is not None
    try:
        address = (await expect_line(process.stdout, "LISTENING ")).split()[1]
        async with sb.Bridge("checkout") as caller:
            payment = caller.client(payment_sb.PaymentClient, address=address)
            call = asyncio.create_task(payment.charge(payment_pb2.ChargeRequest(user_id="u-1")))
            await expect_line(process.stdout, "CHARGING")
            process.send_signal(signal.SIGTERM)
            reply = await call
        assert reply.transaction_id == "tx-u-1"
        await expect_line(process.stdout, "STOPPED")
        assert await asyncio.wait_for(process.wait(), 60) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_run_forever_off_the_main_thread_is_a_config_error() -> None:
    def in_thread() -> None:
        async def run() -> None:
            await sb.Bridge("worker").run_forever()

        asyncio.run(run())

    with pytest.raises(sb.ConfigError, match="needs the main thread's event loop"):
        await asyncio.to_thread(in_thread)
