"""Who calls: the service named by a request's verified client certificate, for route code and
for routes that admit only some callers.

    who = sb_http.caller(request)                                  # Starlette: "orders" or None
    Caller = Annotated[str | None, Depends(sb_http.caller)]        # FastAPI
    @app.post("/refunds", dependencies=[Depends(sb_http.allowed_callers("orders"))])

:class:`BridgeMiddleware` reads the caller (see its module); these only look it up. A refused
caller gets 403 and the bridge's ``policy_violation`` event, as a refused RPC does.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

import runtime_lib as sb
from runtime_lib._access.policy import ANY_CALLER, PolicyViolation, denied
from runtime_lib._security.identity import check_service_name
from runtime_lib.http.clients import clients_of
from runtime_lib.http.middleware import CALLER_SCOPE_KEY


def caller(request: HTTPConnection) -> str | None:
    """The calling service, from its certificate; None when the request carried none (no TLS,
    a server that does not report it, or a bridge without ``tls=``). A FastAPI dependency as is:
    ``Depends(caller)``."""
    clients_of(request)
    found = request.scope.get(CALLER_SCOPE_KEY)
    return found if isinstance(found, str) else None


def allowed_callers(*callers: str) -> Callable[[HTTPConnection], str]:
    """A dependency admitting only ``callers`` (service names, or ``"*"``: any verified caller)
    and giving the caller's name; any other caller, or none, gets 403."""
    if not callers:
        raise sb.ConfigError('allowed_callers(): name at least one service, or "*" for any')
    for name in callers:
        if name != ANY_CALLER:
            try:
                check_service_name(name)
            except ValueError as exc:
                raise sb.ConfigError(f"allowed_callers({name!r}): {exc}") from None
    admitted = frozenset(callers)
    anyone = ANY_CALLER in admitted

    def dependency(request: HTTPConnection) -> str:
        who = caller(request)
        if who is not None and (anyone or who in admitted):
            return who
        route = f"{request.scope.get('method', 'GET')} {request.url.path}"
        error = denied(route, who or "")
        bridge = clients_of(request).bridge
        bridge._lifecycle.emit(
            PolicyViolation("server", bridge.service, route, who or "", error.message)
        )
        raise HTTPException(403, error.message)

    return dependency
