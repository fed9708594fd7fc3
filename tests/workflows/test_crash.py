"""kill -9 of the process executing a run, between steps and in the middle of a call step: the
run resumes (same instance restarted, or another) and each handler's effect happens once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

import runtime_lib as sb
from runtime_lib.workflows import WorkflowsConfig
from runtime_lib.workflows.dev_server import DevServer
from tests.events.helpers import wait_until

PROC = Path(__file__).resolve().parent / "proc_checkout.py"
REPO = Path(__file__).resolve().parents[2]
ORDER = {"order_id": "o-1", "customer": "ada", "sku": "book", "quantity": 2, "amount_cents": 4200}
EACH_ONCE = {"reserve o-1": 1, "charge o-1": 1, "notify o-1": 1, "ship o-1": 1}


class HoldReply(grpc.aio.ServerInterceptor):
    """Lets the first call of ``method`` run its handler, then holds the reply until the call
    is cancelled: the effect is made and the caller has not heard of it."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.held = asyncio.Event()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        if details.method != self.method or self.held.is_set() or handler is None:
            return handler
        inner = handler.unary_unary

        async def behaviour(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            reply = await inner(request, context)
            self.held.set()
            await asyncio.Event().wait()  # until the caller dies and gRPC cancels the call
            return reply

        return grpc.unary_unary_rpc_method_handler(
            behaviour, handler.request_deserializer, handler.response_serializer
        )


@pytest.fixture
def spawn(saga_root: Path, temporal: DevServer) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``spawn(registry, variant)``: a checkout instance process, returned once it is ready."""
    procs: list[subprocess.Popen[str]] = []

    def start(registry: dict[str, list[str]], variant: str) -> subprocess.Popen[str]:
        args = [str(saga_root), temporal.address, json.dumps(registry), variant]
        proc = subprocess.Popen(
            [sys.executable, str(PROC), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
async def driver(temporal: DevServer) -> AsyncIterator[sb.Bridge]:
    """A bridge that only drives runs (no graphs, so no worker: it never executes a step)."""
    async with sb.Bridge("driver", workflows=WorkflowsConfig(address=temporal.address)) as bridge:
        yield bridge


def kill9(proc: subprocess.Popen[str]) -> None:
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()


async def test_kill_while_the_callee_handles_a_call_step_another_instance_finishes(
    app: SimpleNamespace,
    ledger: Any,
    spawn: Callable[..., subprocess.Popen[str]],
    driver: sb.Bridge,
) -> None:
    charging, release = asyncio.Event(), asyncio.Event()

    class HeldPayment(app.services.Payment):  # type: ignore[misc, name-defined]
        async def charge(self, request: Any, ctx: sb.CallContext) -> Any:
            charging.set()
            await release.wait()
            return await super().charge(request, ctx)

    handlers = {**app.services.handlers(ledger), "payment": HeldPayment(ledger)}
    async with app.services.serve(handlers) as registry:
        first = spawn(registry, "saga")
        run_id = await driver.workflows.start("checkout", ORDER, service="checkout")
        await charging.wait()  # the charge call is in flight from the first instance
        kill9(first)
        spawn(registry, "saga")  # another instance of the service takes the run over
        release.set()
        outputs = await driver.workflows.await_result(run_id)
    assert outputs["ship"] == {"tracking_id": "t-o-1"}
    assert dict(ledger.counts) == EACH_ONCE


async def test_kill_between_steps_the_restarted_instance_finishes(
    app: SimpleNamespace,
    ledger: Any,
    spawn: Callable[..., subprocess.Popen[str]],
    driver: sb.Bridge,
) -> None:
    async with app.services.serve(app.services.handlers(ledger)) as registry:
        first = spawn(registry, "hold")
        run_id = await driver.workflows.start("checkout", ORDER, service="checkout")

        async def parked() -> bool:
            steps = (await driver.workflows.query(run_id)).steps
            return steps.get("reserve") == "completed" and steps.get("hold") == "running"

        await wait_until(parked, what="reserve done and the run parked on its signal")
        kill9(first)
        spawn(registry, "hold")  # the same instance, restarted
        await driver.workflows.signal(run_id, "go")
        outputs = await driver.workflows.await_result(run_id)
    assert outputs["placed"]["event_id"]
    assert dict(ledger.counts) == EACH_ONCE


async def test_kill_after_the_callee_made_the_effect_the_retry_is_replayed(
    app: SimpleNamespace,
    ledger: Any,
    spawn: Callable[..., subprocess.Popen[str]],
    driver: sb.Bridge,
) -> None:
    """The ambiguous case: the charge happened, its reply never reached the dead instance. The
    retry carries the same idempotency key (run id, step id), so the callee replays its reply."""
    hold = HoldReply("/checkout.Payment/Charge")
    payment = sb.Bridge("payment", rpc=sb.RpcConfig(interceptors=[hold]))
    others = {k: v for k, v in app.services.handlers(ledger).items() if k != "payment"}
    payment.serve(app.services.Payment(ledger))
    async with payment, app.services.serve(others) as registry:
        registry = {**registry, "payment": [payment.address]}
        first = spawn(registry, "saga")
        run_id = await driver.workflows.start("checkout", ORDER, service="checkout")
        await hold.held.wait()  # charged; the reply is held back from the first instance
        kill9(first)
        spawn(registry, "saga")
        outputs = await driver.workflows.await_result(run_id)
    assert outputs["charge"]["transaction_id"] == "tx-o-1"
    assert dict(ledger.counts) == EACH_ONCE
