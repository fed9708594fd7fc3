"""uvicorn serving an ASGI app with the bridge's mutual TLS, each request carrying the caller's
certificate, so :class:`BridgeMiddleware` knows who calls.

    await serve(app, bridge, host="0.0.0.0", port=8443)          # needs Bridge(..., tls=...)

uvicorn (0.54) verifies client certificates but does not implement the ASGI TLS extension: the
certificate never reaches the app. :class:`TlsH11Protocol` adds it. asyncio calls a protocol's
``connection_made`` once the TLS handshake is complete, so the verified peer certificate is
read there, once per connection, and put in the scope of each of its requests. uvicorn is not
a dependency of the ``http`` extra: this module needs it installed.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

import runtime_lib as sb
from runtime_lib.http.asgi_tls import tls_extension


class TlsH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, adding ``scope["extensions"]["tls"]`` to every request of a
    TLS connection (``uvicorn.Config(http=TlsH11Protocol, ...)``). WebSocket upgrades are handed
    to uvicorn's own WebSocket protocol and get no extension."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if isinstance(ssl_object, ssl.SSLObject):
            self.app = _WithTls(self.app, tls_extension(ssl_object))


class _WithTls:
    """The connection's app, adding the connection's TLS extension to each scope."""

    __slots__ = ("app", "tls")

    def __init__(self, app: Any, tls: dict[str, Any]) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope["extensions"] = {**(scope.get("extensions") or {}), "tls": self.tls}
        await self.app(scope, receive, send)


def uvicorn_config(app: Any, bridge: sb.Bridge, **options: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` for ``app`` serving with ``bridge``'s certificate and requiring a
    client certificate from its CA (a client without one, or with one from another CA, fails the
    handshake), rotated files applying from the next handshake; ``options`` are uvicorn's other
    settings (``host``, ``port``, ``log_level``...), but none of its ``ssl_*``."""
    if bridge.tls is None:
        raise sb.ConfigError(
            f"bridge {bridge.service!r} has no tls=: give it Bridge(..., tls=TlsConfig(...)) "
            "to serve HTTPS with client certificates, or run uvicorn directly for plain HTTP"
        )
    # Given too, they would undo the bridge's TLS.
    taken = sorted(key for key in options if key == "http" or key.startswith("ssl_"))
    if taken:
        raise sb.ConfigError(
            f"uvicorn_config(..., {', '.join(taken)}=...): set from the bridge's TlsConfig; "
            "leave them out"
        )
    tls = bridge.tls
    return uvicorn.Config(
        app,
        http=TlsH11Protocol,
        ssl_context_factory=lambda _config, _default: tls.server_ssl_context(),
        **options,
    )


async def serve(app: Any, bridge: sb.Bridge, **options: Any) -> None:
    """Serve ``app`` on uvicorn with ``bridge``'s mutual TLS until the server is stopped."""
    await uvicorn.Server(uvicorn_config(app, bridge, **options)).serve()
