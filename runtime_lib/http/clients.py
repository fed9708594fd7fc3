"""Typed clients for route code, in the request's trace and deadline.

    payment = Depends(sb_http.client(PaymentClient, service="payment"))   # FastAPI
    payment = sb_http.client_for(request, PaymentClient, service="payment")  # Starlette

Both read the clients of the bridge :class:`BridgeMiddleware` put in the request's scope; the trace and the
deadline travel in context variables the middleware set, so a call made from the route joins
them without being passed anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.requests import HTTPConnection

import runtime_lib as sb
from runtime_lib import codegen
from runtime_lib.http.client_cache import ClientCache
from runtime_lib.http.middleware import CLIENTS_SCOPE_KEY

C = TypeVar("C", bound=codegen.ClientBase)


def client_for(
    request: HTTPConnection,
    client_class: type[C],
    *,
    service: str | None = None,
    address: str | None = None,
) -> C:
    """The bridge's ``client_class`` for ``service`` (or ``address``), built once per app."""
    return clients_of(request).get(client_class, service, address)


def clients_of(request: HTTPConnection) -> ClientCache:
    """The clients :class:`BridgeMiddleware` put in the request; ConfigError without it."""
    clients = request.scope.get(CLIENTS_SCOPE_KEY)
    if not isinstance(clients, ClientCache):
        raise sb.ConfigError(
            f"{request.url.path}: no bridge in this request; add BridgeMiddleware to the app"
        )
    return clients


def client(
    client_class: type[C], *, service: str | None = None, address: str | None = None
) -> Callable[[HTTPConnection], C]:
    """A FastAPI dependency giving ``client_class`` (``Depends(client(PaymentClient, ...))``)."""

    def dependency(request: HTTPConnection) -> C:
        return client_for(request, client_class, service=service, address=address)

    return dependency
