"""The bench's same-wire stub sends what a generated client sends: the ratios "vs the same wire"
compare the runtime's own code only as long as the two put the same metadata on the wire."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from bench.clients import unary_client
from bench.generated import shared


class _Recorder(grpc.GenericRpcHandler):
    """Answers every unary call with an empty reply and keeps its metadata and deadline."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str | bytes], float | None]] = []

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        async def record(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            metadata = dict(context.invocation_metadata() or ())
            self.calls.append((metadata, context.time_remaining()))
            return b""

        return grpc.unary_unary_rpc_method_handler(record)


def _shape(metadata: dict[str, str | bytes]) -> dict[str, list[str]]:
    """Our entries with their variable fields (budget, request id) blanked."""
    shape = {}
    for key, value in metadata.items():
        if key.startswith("sb-"):
            fields = str(value).split(" ")
            shape[key] = ["<ms>", fields[1], "<id>", *fields[3:]]
    return shape


def test_the_same_wire_stub_sends_what_the_generated_client_sends() -> None:
    gen = shared()
    recorder = _Recorder()

    async def run() -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((recorder,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            for kind in ("same-wire", "sb"):
                client = await unary_client(kind, gen, f"127.0.0.1:{port}")
                try:
                    await client.echo(1)
                finally:
                    await client.close()
        finally:
            await server.stop(None)

    asyncio.run(run())
    (stub, stub_left), (sb, sb_left) = recorder.calls
    assert _shape(stub) == _shape(sb) and _shape(sb)
    # Both send the 30 s default deadline (gRPC's own, beside the budget in sb-call).
    assert stub_left is not None and 20 < stub_left <= 30
    assert sb_left is not None and 20 < sb_left <= 30
