"""Runs the handler for a call, whatever carried it: the gRPC server and the in-process transport.

Order for every call: contract check, access policy (``allowed_callers``), admission, then the
handler with the caller's deadline inherited by the calls it makes. Unary calls with an idempotency key go through the replay cache.
What the handler raises reaches the caller as ``failures.caller_error`` says.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message

from runtime_lib._access.policy import AccessPolicy, Allowed, PolicyViolation, denied
from runtime_lib._errors import ConfigError, ServiceBridgeError, ValidationError
from runtime_lib._rpc import deadline
from runtime_lib._rpc.admission import Admission
from runtime_lib._rpc.base import HandlerBase
from runtime_lib._rpc.context import CallContext
from runtime_lib._rpc.failures import caller_error
from runtime_lib._rpc.idempotency import IdempotencyCache
from runtime_lib._rpc.spec import MethodSpec, ServiceSpec
from runtime_lib._telemetry.api import DISABLED, Telemetry
from runtime_lib._telemetry.spans import RpcServerCall

M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class Route:
    method: MethodSpec[Any, Any]
    call: Callable[..., Any]
    allowed: Allowed = None  # the callers admitted; None: anyone


class Dispatcher:
    def __init__(
        self,
        admission: Admission,
        idempotency: IdempotencyCache,
        telemetry: Telemetry = DISABLED,
        *,
        expose_errors: bool = False,
        access: AccessPolicy | None = None,
        on_violation: Callable[[PolicyViolation], None] | None = None,
        service_name: str = "",
    ) -> None:
        self.admission = admission
        self.telemetry = telemetry
        self._expose_errors = expose_errors
        self.access = access or AccessPolicy()
        self._on_violation = on_violation
        self._service_name = service_name
        self._idempotency = idempotency
        self._routes: dict[str, Route] = {}
        self._services: dict[str, ServiceSpec] = {}
        # A unary call runs inside its server span only when telemetry records one: entering
        # and leaving the no-op span cost ~3k instructions per call (five Python calls).
        self.unary: Callable[[Route, Message, CallContext], Awaitable[Message]] = (
            self._unary_in_span if telemetry.enabled else self._unary
        )

    def add(self, handler: HandlerBase) -> None:
        spec = handler.SERVICE
        if spec.full_name in self._services:
            raise ConfigError(f"{spec.full_name} is already served by this bridge")
        self._services[spec.full_name] = spec
        for method in spec.methods:
            allowed = self.access.allowed(
                spec.full_name, method.path.lstrip("/"), method.allowed_callers
            )
            self._routes[method.path] = Route(method, getattr(handler, method.attr), allowed)

    @property
    def services(self) -> tuple[ServiceSpec, ...]:
        return tuple(self._services.values())

    @property
    def routes(self) -> Mapping[str, Route]:
        """Method path to route, for every method served."""
        return self._routes

    def route(self, path: str) -> Route | None:
        return self._routes.get(path)

    def contracts(self) -> dict[str, str]:
        """Method path to contract hash, for the registry."""
        return {path: r.method.contract_hash for path, r in self._routes.items()}

    @staticmethod
    def check_contract(route: Route, sent: str | None) -> None:
        """A caller that states a contract must state this one (no header: a plain gRPC client)."""
        if sent is not None and sent != route.method.contract_hash:
            raise ValidationError(
                f"contract mismatch on {route.method.path}: caller has {sent!r}, "
                f"handler has {route.method.contract_hash!r}"
            )

    def check_access(self, route: Route, ctx: CallContext) -> None:
        """AccessDeniedError (and a ``policy_violation`` event) if ``ctx.caller`` may not call."""
        allowed = route.allowed
        if allowed is None or ctx.caller in allowed:
            return
        error = denied(ctx.method, ctx.caller)
        if self._on_violation is not None:
            self._on_violation(
                PolicyViolation("server", self._service_name, ctx.method, ctx.caller, error.message)
            )
        raise error

    async def _unary_in_span(self, route: Route, request: Message, ctx: CallContext) -> Message:
        with self._span(ctx):
            return await self._unary(route, request, ctx)

    async def _unary(self, route: Route, request: Message, ctx: CallContext) -> Message:
        # The hot path: admission and the handler guard written out (no context-manager or
        # wrapper coroutine per call); the same steps as the streaming methods.
        if route.allowed is not None:
            self.check_access(route, ctx)
        admission = self.admission
        if not admission.enter_now():
            await admission.queue()
        try:
            deadline.inherit(ctx.deadline)
            key = ctx.idempotency_key
            try:
                if key:
                    # The cache sees the handler's own exceptions, so it can tell a business
                    # answer (stored) from a crash (not stored) before both become HandlerError.
                    reply: Message = await self._idempotency.run(
                        ctx.caller,
                        route.method.path,
                        key,
                        _fingerprint(request),
                        lambda: route.call(request, ctx),
                    )
                    return reply
                reply = await route.call(request, ctx)
                return reply
            except Exception as exc:
                raise self.caller_error(exc, ctx) from exc
        finally:
            admission.leave()

    async def client_stream(
        self, route: Route, requests: AsyncIterator[Message], ctx: CallContext
    ) -> Message:
        with self._span(ctx):
            self.check_access(route, ctx)
            async with self.admission.slot():
                deadline.inherit(ctx.deadline)
                try:
                    reply: Message = await route.call(requests, ctx)
                except Exception as exc:
                    raise self.caller_error(exc, ctx) from exc
                return reply

    async def server_stream(
        self, route: Route, request: Message, ctx: CallContext
    ) -> AsyncIterator[Message]:
        with self._span(ctx):
            self.check_access(route, ctx)
            async with self.admission.slot():
                deadline.inherit(ctx.deadline)
                async with closing(self._guard_stream(route.call(request, ctx), ctx)) as replies:
                    async for reply in replies:
                        yield reply

    async def bidi_stream(
        self, route: Route, requests: AsyncIterator[Message], ctx: CallContext
    ) -> AsyncIterator[Message]:
        with self._span(ctx):
            self.check_access(route, ctx)
            async with self.admission.slot():
                deadline.inherit(ctx.deadline)
                async with closing(self._guard_stream(route.call(requests, ctx), ctx)) as replies:
                    async for reply in replies:
                        yield reply

    def _span(self, ctx: CallContext) -> RpcServerCall:
        """The server span of a call, parented by the caller's ``traceparent``; the handler,
        admission wait included, runs inside it."""
        return self.telemetry.rpc_server(ctx.method, ctx.metadata, ctx.caller)

    def caller_error(self, exc: Exception, ctx: CallContext) -> ServiceBridgeError:
        """What the caller receives for ``exc`` raised by the handler (a crash is logged)."""
        return caller_error(exc, ctx, expose=self._expose_errors)

    async def _guard_stream(
        self, replies: AsyncIterator[Message], ctx: CallContext
    ) -> AsyncIterator[Message]:
        try:
            async with closing(replies):
                async for reply in replies:
                    yield reply
        except Exception as exc:
            raise self.caller_error(exc, ctx) from exc


def _fingerprint(request: Message) -> bytes:
    """Identifies a request's content, so a reused idempotency key with another body is caught."""
    return hashlib.blake2b(request.SerializeToString(deterministic=True), digest_size=16).digest()


@contextlib.asynccontextmanager
async def closing(replies: AsyncIterator[M]) -> AsyncIterator[AsyncIterator[M]]:
    """Close a reply stream on exit, so a cancelled call ends the handler's generator now
    (its ``finally`` runs) rather than at garbage collection."""
    try:
        yield replies
    finally:
        aclose = getattr(replies, "aclose", None)
        if aclose is not None:
            await aclose()
