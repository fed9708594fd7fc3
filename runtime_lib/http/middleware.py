"""The ASGI middleware that puts each HTTP request of the user's own app in the bridge's trace,
metrics and deadline (FastAPI, Starlette or any ASGI 3 app; it needs neither).

    app.add_middleware(BridgeMiddleware, bridge=bridge)          # FastAPI / Starlette
    app = BridgeMiddleware(app, bridge=bridge)                    # any ASGI app

Per request: a SERVER span that continues an incoming W3C ``traceparent``, named
``METHOD route`` once the router matched one, with the HTTP semantic-convention attributes; the
``http.server.request.duration`` and ``http.server.active_requests`` metrics; and a deadline
(``sb-timeout-ms``, else ``default_timeout``) that every call made through the bridge while the
request is handled inherits. A malformed ``sb-timeout-ms`` is refused with 400.

With a bridge on TLS (``Bridge(..., tls=...)``), the caller is the service named by the client
certificate the server reports in the ASGI TLS extension (:mod:`runtime_lib.http.uvicorn_tls`
adds it to uvicorn), checked against the bridge's CA and mapped by the code that names RPC
callers; route code reads it with :func:`runtime_lib.http.caller`. A certificate that names no
service of the trust domain, or is not from the CA, is refused with 403. No header is read for
it: a header is what any client sends.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

import runtime_lib as sb
from runtime_lib._rpc import deadline as rpc_deadline
from runtime_lib._security.identity import PeerIdentityError
from runtime_lib._telemetry.propagation import extract_headers
from runtime_lib.http import semconv
from runtime_lib.http.asgi_tls import client_chain
from runtime_lib.http.client_cache import ClientCache
from runtime_lib.http.problem import error_body, http_status
from runtime_lib.http.request_deadline import deadline_from

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLIENTS_SCOPE_KEY = "sb.clients"
CALLER_SCOPE_KEY = "sb.caller"


class BridgeMiddleware:
    """Wrap ``app``; ``bridge`` supplies the telemetry and the clients route code calls."""

    def __init__(
        self, app: ASGIApp, *, bridge: sb.Bridge, default_timeout: sb.Timeout = "30s"
    ) -> None:
        self.app = app
        self.bridge = bridge
        self.default_timeout = rpc_deadline.parse_timeout(default_timeout)
        self.clients = ClientCache(bridge)
        telemetry = bridge.telemetry
        self._tracer = telemetry.tracer if telemetry.enabled else None
        self._metrics = semconv.HttpServerMetrics(telemetry.meter) if telemetry.enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[CLIENTS_SCOPE_KEY] = self.clients
        caller = None
        tls = self.bridge.tls
        if tls is not None:
            chain = client_chain(scope)
            if chain:
                try:
                    caller = tls.caller_of(chain)
                except PeerIdentityError as exc:
                    await _refuse(send, exc)
                    return
        scope[CALLER_SCOPE_KEY] = caller
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers", ())
        }
        try:
            deadline = deadline_from(headers, self.default_timeout)
        except sb.BadRequestError as exc:
            await _refuse(send, exc)
            return
        attributes = semconv.request_attributes(scope, headers)
        if caller is not None:
            attributes["sb.caller"] = caller  # as on the server span of an RPC
        method = attributes["http.request.method"]
        span = (
            self._tracer.start_span(
                str(method),
                context=extract_headers(headers),
                kind=SpanKind.SERVER,
                attributes=attributes,
            )
            if self._tracer is not None
            else trace.INVALID_SPAN
        )
        active = {"http.request.method": method, "url.scheme": attributes["url.scheme"]}
        if self._metrics is not None:
            self._metrics.active.add(1, active)
        status = 0

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span))
        previous = rpc_deadline.current()
        rpc_deadline.inherit(deadline)
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_observed)
        except BaseException as exc:
            error = exc
            raise
        finally:
            rpc_deadline.inherit(previous)
            otel_context.detach(token)
            self._finish(scope, span, active, status, error, time.perf_counter() - start)

    def _finish(
        self,
        scope: Scope,
        span: trace.Span,
        active: dict[str, Any],
        status: int,
        error: BaseException | None,
        elapsed: float,
    ) -> None:
        route = getattr(scope.get("route"), "path", None)
        final = {**active}
        if isinstance(route, str):
            final["http.route"] = route
        if status:
            final["http.response.status_code"] = status
        failed = error is not None or status >= 500
        if failed:
            final["error.type"] = type(error).__qualname__ if error is not None else str(status)
        if self._metrics is not None:
            self._metrics.active.add(-1, active)
            self._metrics.duration.record(elapsed, final)
        if span.is_recording():
            if isinstance(route, str):
                span.update_name(f"{active['http.request.method']} {route}")
            span.set_attributes(final)
            if error is not None:
                span.record_exception(error)
            if failed:
                span.set_status(Status(StatusCode.ERROR))
        span.end()


async def _refuse(send: Send, error: sb.ServiceBridgeError) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": http_status(error.code),
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": error_body(error)})
