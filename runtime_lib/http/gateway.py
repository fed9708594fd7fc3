"""The ASGI app sb-gen's ``x_gateway.py`` builds per service: HTTP + JSON transcoded to the
service's typed client by its ``google.api.http`` bindings.

The client decides where the call goes: a bridge's client for its own service name runs the
handler in process, any other reaches a remote service over gRPC. Errors are sent with the
status of their ServiceBridge code and a ``google.rpc.Status`` JSON body; server streaming as
NDJSON or SSE (``streaming``); ``GET /openapi.json`` serves the OpenAPI 3.1 document. Wrap
the app in :class:`BridgeMiddleware` for the trace, metrics and ``sb-timeout-ms`` deadline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

import runtime_lib as sb
from runtime_lib import codegen
from runtime_lib.http import streaming
from runtime_lib.http.binding import Binding
from runtime_lib.http.middleware import ASGIApp, Receive, Scope, Send
from runtime_lib.http.openapi import openapi_document
from runtime_lib.http.problem import error_body, http_status, internal_error_body, status_message
from runtime_lib.http.transcode import build_request

_log = logging.getLogger(__name__)

OPENAPI_PATH = "/openapi.json"
_JSON = "application/json"
# A handler that crashed: the caller gets sb.HandlerError("INTERNAL"), which is the server's fault.
_CRASHED = "INTERNAL"


class GatewayApp:
    """``GatewayApp("pkg.Service", BINDINGS, client)``; ``cors_origins`` allows browser pages
    from those origins (``["*"]`` for any) to call it."""

    def __init__(
        self,
        service: str,
        bindings: Sequence[Binding],
        client: codegen.ClientBase,
        *,
        cors_origins: Sequence[str] = (),
        title: str = "",
    ) -> None:
        self.service = service
        self.client = client
        # A route with a verb first: "/v1/{id}" would also match "/v1/7:cancel".
        self.bindings = sorted(bindings, key=lambda b: b.template.verb == "")
        self.openapi = openapi_document(title or service, bindings)
        app: ASGIApp = self._serve
        if cors_origins:
            methods = sorted({b.method for b in bindings} | {"GET"})
            app = CORSMiddleware(
                app,
                allow_origins=list(cors_origins),
                allow_methods=methods,
                allow_headers=["content-type", "accept", "traceparent", "sb-timeout-ms"],
            )
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        await self._app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._respond(request)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        path = bytes(raw_path).decode("latin-1").split("?", 1)[0]
        mounted_at = request.scope.get("root_path", "")
        if mounted_at and path.startswith(mounted_at):  # app.mount("/api", gateway)
            path = path[len(mounted_at) :]
        if path == OPENAPI_PATH and request.method == "GET":
            return JSONResponse(self.openapi)
        allowed: set[str] = set()
        for binding in self.bindings:
            values = binding.template.match(path)
            if values is None:
                continue
            if binding.method != request.method:
                allowed.add(binding.method)
                continue
            # BridgeMiddleware names the span and sets http.route from scope["route"].path, as
            # for a Starlette route.
            request.scope["route"] = _MatchedRoute(mounted_at + binding.path)
            try:
                return await self._call(binding, values, request)
            except sb.ServiceBridgeError as exc:
                return _error(exc)
            except Exception:
                _log.exception("gateway %s: %s %s failed", self.service, request.method, path)
                return Response(internal_error_body(), 500, media_type=_JSON)
        if allowed:
            error = sb.ServiceBridgeError(
                f"{request.method} {path}: use {', '.join(sorted(allowed))}"
            )
            response = Response(error_body(error), 405, media_type=_JSON)
            response.headers["allow"] = ", ".join(sorted(allowed))
            return response
        return _error(sb.UnimplementedError(f"no route for {request.method} {path}"))

    async def _call(self, binding: Binding, path: dict[str, str], request: Request) -> Response:
        message = binding.request()
        build_request(
            message,
            path=path,
            query=list(request.query_params.multi_items()),
            body_field=binding.body,
            body=await request.body() if binding.body else b"",
        )
        method: Callable[[Message], Any] = getattr(self.client, binding.attr)
        if not binding.server_streaming:
            reply = await method(message)
            return Response(_dumps(_reply_json(reply, binding.response_body)), media_type=_JSON)
        replies: AsyncIterator[Message] = method(message)
        try:
            first = await anext(replies)
        except StopAsyncIteration:
            first = None
        media = streaming.media_type(request.headers.get("accept", ""))
        if first is None:
            return Response(b"", media_type=media)
        return StreamingResponse(
            streaming.encode(
                first,
                replies,
                lambda reply: _reply_json(reply, binding.response_body),
                lambda error: json_format.MessageToDict(status_message(_public(error))),
                media,
            ),
            media_type=media,
        )


@dataclass(frozen=True, slots=True)
class _MatchedRoute:
    path: str


def _reply_json(reply: Message, response_body: str) -> Any:
    if not response_body:
        return json_format.MessageToDict(reply)
    # The field alone, its default included: an empty list is still a list to the client.
    document = json_format.MessageToDict(reply, always_print_fields_with_no_presence=True)
    return document.get(reply.DESCRIPTOR.fields_by_name[response_body].json_name)


def _dumps(document: Any) -> bytes:
    return json.dumps(document).encode()


def _public(error: sb.ServiceBridgeError) -> sb.ServiceBridgeError:
    """A crashed handler's error is reported as INTERNAL, without its text."""
    if isinstance(error, sb.HandlerError) and error.handler_code == _CRASHED:
        return sb.InternalError("")
    return error


def _error(error: sb.ServiceBridgeError) -> Response:
    error = _public(error)
    status = 400 if isinstance(error, sb.BadRequestError) else http_status(error.code)
    return Response(error_body(error), status, media_type=_JSON)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Served alone (``uvicorn module:app``), the gateway has nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
