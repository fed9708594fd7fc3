"""OpenTelemetry HTTP semantic conventions (stable, v1.23+) for one served request: the span's
attributes and the ``http.server.*`` metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.metrics import Histogram, Meter, UpDownCounter
from opentelemetry.util.types import AttributeValue

# Methods the conventions name; any other is reported as _OTHER (a bounded attribute).
_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
# Buckets the conventions advise for http.server.request.duration, in seconds.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def method_of(scope: Mapping[str, Any]) -> str:
    method = str(scope.get("method", "GET")).upper()
    return method if method in _KNOWN_METHODS else "_OTHER"


def request_attributes(
    scope: Mapping[str, Any], headers: Mapping[str, str]
) -> dict[str, AttributeValue]:
    """What is known when the request arrives."""
    attributes: dict[str, AttributeValue] = {
        "http.request.method": method_of(scope),
        "url.scheme": str(scope.get("scheme", "http")),
        "url.path": str(scope.get("path", "")),
        "network.protocol.version": str(scope.get("http_version", "1.1")),
    }
    query = scope.get("query_string", b"")
    if query:
        attributes["url.query"] = bytes(query).decode("latin-1")
    server = scope.get("server")
    if server:
        attributes["server.address"] = str(server[0])
        if server[1] is not None:
            attributes["server.port"] = int(server[1])
    client = scope.get("client")
    if client:
        attributes["client.address"] = str(client[0])
    agent = headers.get("user-agent")
    if agent:
        attributes["user_agent.original"] = agent
    return attributes


class HttpServerMetrics:
    """``http.server.request.duration`` (s) and ``http.server.active_requests``."""

    def __init__(self, meter: Meter) -> None:
        self.duration: Histogram = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of HTTP server requests",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self.active: UpDownCounter = meter.create_up_down_counter(
            "http.server.active_requests",
            unit="{request}",
            description="HTTP server requests in flight",
        )
