"""HTTP for runtime_lib: the ASGI middleware that puts a web app's requests in the bridge's trace
and deadline, typed clients for route code, route publishing, and the app sb-gen's generated
gateways (``x_gateway.py``) build. Needs the ``http`` extra (``pip install 'sb-gen[http]'``)."""

from runtime_lib.http.binding import Binding
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
    "client",
    "client_for",
    "publish_app_routes",
    "route_names",
]
