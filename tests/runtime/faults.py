"""A real grpc.aio server interceptor that counts calls and injects failures on plan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import grpc


class Faults(grpc.aio.ServerInterceptor):
    """``plan["/pkg.S/M"] = ["UNAVAILABLE", ...]``: the next calls of M run their handler, then
    fail with that status (the reply is lost after the work ran: an ambiguous failure).
    ``"DENY"`` fails with PERMISSION_DENIED before the handler runs."""

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
        if not actions or handler is None or handler.unary_unary is None:
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
