"""A real grpc.aio server interceptor that counts calls and injects failures on plan."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from runtime_lib._errors import OverloadedError
from runtime_lib._rpc import wire_errors


class Faults(grpc.aio.ServerInterceptor):
    """``plan["/pkg.S/M"] = ["UNAVAILABLE", ...]``: the next calls of M run their handler, then
    fail with that status (the reply is lost after the work ran: an ambiguous failure).
    ``"DENY"`` fails with PERMISSION_DENIED before the handler runs. ``"OVERLOAD"`` refuses the
    call before the handler runs exactly as a full server's admission does (RESOURCE_EXHAUSTED
    with the not-dispatched marker), for unary and server-streaming methods."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.plan: dict[str, list[str]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        self.seen[details.method] += 1
        actions = self.plan.get(details.method)
        if not actions or handler is None:
            return handler
        if actions[0] == "OVERLOAD":
            actions.pop(0)
            return _refusing(handler)
        if handler.unary_unary is None:
            return handler
        action = actions.pop(0)
        inner = handler.unary_unary

        async def behaviour(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if action == "DENY":
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "denied by policy")
            await inner(request, context)
            await context.abort(grpc.StatusCode[action], "reply lost on the way back")

        return grpc.unary_unary_rpc_method_handler(
            behaviour, handler.request_deserializer, handler.response_serializer
        )


def _refusing(handler: Any) -> Any:
    status, details, trailers = wire_errors.encode(
        OverloadedError("overloaded (injected by the test)", not_dispatched=True)
    )

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(status, details, trailing_metadata=trailers)

    async def refuse_stream(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        await context.abort(status, details, trailing_metadata=trailers)
        yield  # an async generator, as gRPC expects of a server-streaming handler

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            refuse, handler.request_deserializer, handler.response_serializer
        )
    return grpc.unary_stream_rpc_method_handler(
        refuse_stream, handler.request_deserializer, handler.response_serializer
    )
