"""Test fixture code: generates the conformance Echo proto and provides a counting handler.

``build(dir)`` runs sb-gen into ``dir/echo_pkg`` (messages, ``echo_sb`` with the client, handler
base and service table) and adds a plain grpcio stub from grpc_tools for interop tests;
``load(dir)`` imports the package. The same code serves the in-test handlers and the callee
processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

from grpc_tools import protoc

import runtime_lib as sb
from generator.pipeline import build_package
from generator.write import write_atomically

PROTO = """
syntax = "proto3";
package conformance;
message Echo { string text = 1; int64 n = 2; }
message EchoReply { string text = 1; int64 n = 2; string handled_by = 3; }
service Callee {
  rpc Echo(.conformance.Echo) returns (EchoReply);
  rpc Info(.conformance.Echo) returns (EchoReply);
  rpc Decline(.conformance.Echo) returns (EchoReply);
  rpc Crash(.conformance.Echo) returns (EchoReply);
  rpc Slow(.conformance.Echo) returns (EchoReply);
  rpc Absent(.conformance.Echo) returns (EchoReply);
  rpc Stats(.conformance.Echo) returns (EchoReply);
  rpc Watch(.conformance.Echo) returns (stream EchoReply);
  rpc Upload(stream .conformance.Echo) returns (EchoReply);
  rpc Chat(stream .conformance.Echo) returns (stream EchoReply);
}
"""

SDK = "sb-gen-python"


def build(root: Path) -> Path:
    pkg = root / "echo_pkg"
    (root / "echo.proto").write_text(PROTO)
    write_atomically(pkg, build_package([root / "echo.proto"], []))
    args = ["protoc", f"-I{root}", f"--grpc_python_out={pkg}", "echo.proto"]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on echo.proto")
    # grpc_python_out imports ``echo_pb2`` absolutely; make it relative inside the package.
    grpc_mod = pkg / "echo_pb2_grpc.py"
    grpc_mod.write_text(
        grpc_mod.read_text().replace("import echo_pb2 as", "from . import echo_pb2 as")
    )
    return root


def load(root: Path) -> ModuleType:
    """The ``echo_pkg`` package built under ``root`` (importable once per process)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    importlib.import_module("echo_pkg.echo_pb2")
    importlib.import_module("echo_pkg.echo_pb2_grpc")
    return importlib.import_module("echo_pkg.echo_sb")


def make_handler(
    sbmod: ModuleType, name: str = SDK, behaviours: dict[str, Any] | None = None
) -> Any:
    """A counting Echo handler; ``behaviours`` (method -> conformance behaviour) overrides defaults."""
    pb = sys.modules["echo_pkg.echo_pb2"]
    table: dict[str, Any] = behaviours or {}

    class Counting(sbmod.CalleeHandler):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.served: Counter[str] = Counter()
            self.contexts: list[sb.CallContext] = []
            self.fail_next = 0  # crash this many calls of ``crash`` before answering
            self.gate: asyncio.Event | None = None  # ``slow`` waits for it when set
            self.cancelled = 0

        async def _behave(self, method: str, request: Any, ctx: sb.CallContext) -> Any:
            self.served[method] += 1
            self.contexts.append(ctx)
            behaviour = table.get(method, _DEFAULTS.get(method, "echo"))
            if isinstance(behaviour, dict) and "sleepMs" in behaviour:
                await asyncio.sleep(behaviour["sleepMs"] / 1000)
                behaviour = "echo"
            if isinstance(behaviour, dict) and "fail" in behaviour:
                raise sb.HandlerError(behaviour["fail"]["code"], behaviour["fail"]["message"])
            if isinstance(behaviour, dict) and "throw" in behaviour:
                raise RuntimeError(behaviour["throw"])
            if behaviour == "info":
                left = ctx.time_remaining()
                return pb.EchoReply(
                    text=ctx.caller,
                    n=-1 if left is None else int(left * 1000),
                    handled_by=ctx.idempotency_key or "",
                )
            return pb.EchoReply(text=request.text, n=request.n, handled_by=name)

        async def echo(self, request: Any, ctx: sb.CallContext) -> Any:
            return await self._behave("echo", request, ctx)

        async def info(self, request: Any, ctx: sb.CallContext) -> Any:
            return await self._behave("info", request, ctx)

        async def decline(self, request: Any, ctx: sb.CallContext) -> Any:
            return await self._behave("decline", request, ctx)

        async def crash(self, request: Any, ctx: sb.CallContext) -> Any:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.served["crash"] += 1
                raise RuntimeError("crashed on purpose")
            return await self._behave("crash", request, ctx)

        async def slow(self, request: Any, ctx: sb.CallContext) -> Any:
            if self.gate is not None:
                self.served["slow"] += 1
                try:
                    await self.gate.wait()
                except asyncio.CancelledError:
                    self.cancelled += 1
                    raise
                return pb.EchoReply(text=request.text, handled_by=name)
            return await self._behave("slow", request, ctx)

        async def absent(self, request: Any, ctx: sb.CallContext) -> Any:
            return await self._behave("absent", request, ctx)

        async def stats(self, request: Any, ctx: sb.CallContext) -> Any:
            return pb.EchoReply(text=request.text, n=self.served[request.text], handled_by=name)

        async def watch(self, request: Any, ctx: sb.CallContext) -> AsyncIterator[Any]:
            self.served["watch"] += 1
            finished = False
            try:
                for i in range(request.n):
                    yield pb.EchoReply(text=request.text, n=i, handled_by=name)
                    await asyncio.sleep(0)
                finished = True
            finally:
                self.cancelled += not finished

        async def upload(self, requests: AsyncIterator[Any], ctx: sb.CallContext) -> Any:
            self.served["upload"] += 1
            texts = [r.text async for r in requests]
            return pb.EchoReply(text="".join(texts), n=len(texts), handled_by=name)

        async def chat(
            self, requests: AsyncIterator[Any], ctx: sb.CallContext
        ) -> AsyncIterator[Any]:
            self.served["chat"] += 1
            async for r in requests:
                yield pb.EchoReply(text=r.text.upper(), n=r.n, handled_by=name)

    return Counting()


_DEFAULTS: dict[str, Any] = {
    "info": "info",
    "decline": {"fail": {"code": "CARD_DECLINED", "message": "card declined"}},
    "crash": {"throw": "database is down"},
    "slow": {"sleepMs": 3000},
}


def pb() -> Any:
    """The generated ``echo_pb2`` module (loaded by the ``echo`` fixture)."""
    return sys.modules["echo_pkg.echo_pb2"]


async def until(predicate: Any, what: str) -> None:
    """Poll ``predicate`` for up to 5 s; fail naming ``what`` if it never holds."""
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@contextlib.asynccontextmanager
async def slow_call_in_flight(
    address: str, echo: ModuleType, transport: sb.NetworkTransport
) -> AsyncIterator[asyncio.Task[Any]]:
    """A caller bridge whose ``slow`` call is running on the callee at ``address``: known from
    the callee's count (taken before the handler sleeps), not from a guess; each stats call is a
    round trip to the callee."""
    async with sb.Bridge(
        "caller", registry={"echo": [address]}, rpc=sb.RpcConfig(transport=transport)
    ) as caller:
        client = caller.client(echo.CalleeClient, service="echo")
        call = asyncio.create_task(client.slow(pb().Echo(text="last")))
        running = 0
        while not running:
            running = (await client.stats(pb().Echo(text="slow"))).n
        yield call
