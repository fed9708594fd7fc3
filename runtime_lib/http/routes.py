"""An ASGI app's routes as the registry lists them (``"GET /orders/{order_id}"``), so a service
map shows the HTTP routes of a process beside its RPC methods."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import runtime_lib as sb


def route_names(routes: Iterable[Any], prefix: str = "") -> list[str]:
    """``METHOD /path/{template}`` for each route of a Starlette/FastAPI route list (mounted
    apps included); HEAD is left out where GET is there, and so are routes hidden from the
    app's schema (FastAPI's own ``/docs``)."""
    names: list[str] = []
    for route in routes:
        path = prefix + str(getattr(route, "path", ""))
        nested = getattr(route, "routes", None)
        if nested is not None and not hasattr(route, "methods"):
            names += route_names(nested, path)
            continue
        methods = getattr(route, "methods", None)
        if not methods or getattr(route, "include_in_schema", True) is False:
            continue
        shown = sorted(m for m in methods if m != "HEAD" or "GET" not in methods)
        names += [f"{method} {path}" for method in shown]
    return sorted(set(names))


def publish_app_routes(bridge: sb.Bridge, app: Any, base_url: str) -> list[str]:
    """Publish ``app``'s routes (served at ``base_url``) with ``bridge`` (before it starts)."""
    names = route_names(app.routes)
    bridge.publish_routes(dict.fromkeys(names, base_url.rstrip("/")))
    return names
