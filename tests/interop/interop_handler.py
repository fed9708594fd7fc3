"""gRPC's interop TestService as a bridge handler, written from the "Server" section of grpc/grpc
``doc/interop-test-descriptions.md``: EmptyCall, UnaryCall (``response_size``),
StreamingInputCall, StreamingOutputCall and FullDuplexCall (one reply per
``ResponseParameters``, after ``interval_us``), HalfDuplexCall (replies after the half-close),
Echo Status, Echo Metadata; ``UnimplementedCall`` raises ``NotImplementedError``.

Echo Status answers with a ``HandlerError``, which gRPC sees as ``UNKNOWN`` (2) with the given
message: the code every interop case sends. The generated handler base exists only once the
session fixture ran sb-gen, so ``make_handler`` builds the class from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import runtime_lib as sb
from runtime_lib import codegen

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"


def make_handler(sbmod: Any, pb2: Any) -> codegen.HandlerBase:
    """A TestService handler on the generated ``test_sb`` base, replying with ``test_pb2``."""

    def payload(size: int) -> Any:
        return pb2.Payload(type=pb2.COMPRESSABLE, body=bytes(size))

    def echo_metadata(ctx: sb.CallContext) -> None:
        initial = ctx.metadata.get(ECHO_INITIAL)
        if initial is not None:
            ctx.set_header(ECHO_INITIAL, initial)
        trailing = ctx.metadata.get(ECHO_TRAILING)
        if trailing is not None:
            ctx.set_trailer(ECHO_TRAILING, trailing)

    def echo_status(request: Any) -> None:
        if request.HasField("response_status") and request.response_status.code != 0:
            raise sb.HandlerError("ECHO_STATUS", request.response_status.message)

    async def replies(request: Any) -> AsyncIterator[Any]:
        for parameters in request.response_parameters:
            if parameters.interval_us:
                await asyncio.sleep(parameters.interval_us / 1_000_000)
            yield pb2.StreamingOutputCallResponse(payload=payload(parameters.size))

    class TestService(sbmod.TestServiceHandler):  # type: ignore[misc]
        async def empty_call(self, request: Any, ctx: sb.CallContext) -> Any:
            return pb2.Empty()

        async def unary_call(self, request: Any, ctx: sb.CallContext) -> Any:
            echo_metadata(ctx)
            echo_status(request)
            return pb2.SimpleResponse(payload=payload(request.response_size))

        async def streaming_output_call(
            self, request: Any, ctx: sb.CallContext
        ) -> AsyncIterator[Any]:
            echo_metadata(ctx)
            echo_status(request)
            async for reply in replies(request):
                yield reply

        async def streaming_input_call(
            self, requests: AsyncIterator[Any], ctx: sb.CallContext
        ) -> Any:
            size = 0
            async for request in requests:
                size += len(request.payload.body)
            return pb2.StreamingInputCallResponse(aggregated_payload_size=size)

        async def full_duplex_call(
            self, requests: AsyncIterator[Any], ctx: sb.CallContext
        ) -> AsyncIterator[Any]:
            echo_metadata(ctx)
            async for request in requests:
                echo_status(request)
                async for reply in replies(request):
                    yield reply

        async def half_duplex_call(
            self, requests: AsyncIterator[Any], ctx: sb.CallContext
        ) -> AsyncIterator[Any]:
            echo_metadata(ctx)
            received = [request async for request in requests]
            for request in received:
                echo_status(request)
                async for reply in replies(request):
                    yield reply

        async def unimplemented_call(self, request: Any, ctx: sb.CallContext) -> Any:
            raise NotImplementedError

    handler: codegen.HandlerBase = TestService()
    return handler
