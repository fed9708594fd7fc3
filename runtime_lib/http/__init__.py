"""HTTP for runtime_lib: the ASGI middleware that puts a web app's requests in the bridge's trace
and deadline, typed clients for route code, the caller's verified identity, route publishing,
and the app sb-gen's generated gateways (``x_gateway.py``) build. Needs the ``http`` extra
(``pip install 'sb-gen[http]'``); :mod:`runtime_lib.http.uvicorn_tls` (serving with the bridge's
mutual TLS) needs uvicorn too."""

from runtime_lib.http.binding import Binding
from runtime_lib.http.callers import allowed_callers, caller
from runtime_lib.http.clients import client, client_for
from runtime_lib.http.gateway import OPENAPI_PATH, GatewayApp
from runtime_lib.http.middleware import BridgeMiddleware
from runtime_lib.http.request_deadline import TIMEOUT_HEADER
from runtime_lib.http.routes import publish_app_routes, route_names

__all__ = [
    "OPENAPI_PATH",
    "TIMEOUT_HEADER",
    "Binding",
    "BridgeMiddleware",
    "GatewayApp",
    "allowed_callers",
    "caller",
    "client",
    "client_for",
    "publish_app_routes",
    "route_names",
]
