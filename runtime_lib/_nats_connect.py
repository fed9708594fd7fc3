"""Opening a NATS connection that gives up at once when the broker refuses who we are.

With unlimited reconnects nats-py retries a failed first connection forever. That suits a broker
that is not up yet, but not one that refuses the TLS handshake (it requires a client
certificate, or ours is from another CA) or has no user for our certificate: waiting changes
neither. :func:`connect_nats` turns those into a :class:`ConfigError` naming the broker and the
fix, and leaves every other failure (refused, reset, timed out) to nats-py's retries.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
from nats.aio.client import Client

from runtime_lib._errors import ConfigError

ErrorCallback = Callable[[Exception], Awaitable[None]]


class _Refused(Exception):
    """Raised from the error callback to end nats-py's retry loop of the first connection."""


def _refusal(exc: Exception) -> bool:
    if isinstance(exc, ssl.SSLError):
        return True
    return isinstance(exc, nats.errors.Error) and "authorization violation" in str(exc).lower()


def refusal_message(url: str, exc: BaseException, *, with_certificate: bool) -> str:
    """What to tell the user when the broker at ``url`` refused the connection with ``exc``."""
    if isinstance(exc, ssl.SSLError) and not with_certificate:
        return (
            f"NATS at {url} requires TLS and this connection has no client certificate ({exc}): "
            "give the bridge its certificate, Bridge(..., tls=TlsConfig.from_dir(<certs>, "
            "<service>)) with files from sb-certs issue <service> (docs/security.md)"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"NATS at {url} and this client do not trust each other ({exc}): the broker's "
            "certificate must come from the client's CA and name nats.<trust domain> "
            "(sb-certs issue nats), and the broker must trust that CA (sb-certs nats-config)"
        )
    return (
        f"NATS at {url} refused this client's credentials ({exc}): the broker has no user for "
        "its certificate; add the service to the broker's services.json and regenerate its "
        "config (sb-certs nats-config), or use the certificate of a configured service"
    )


async def connect_nats(url: str, **options: Any) -> Client:
    """``nats.connect(url, **options)``, but a refused handshake or unknown user raises
    :class:`ConfigError` at once instead of being retried."""
    user_callback: ErrorCallback | None = options.pop("error_cb", None)
    connecting = True

    async def error_cb(exc: Exception) -> None:
        if connecting and _refusal(exc):
            raise _Refused() from exc
        if user_callback is not None:
            await user_callback(exc)

    nc = Client()
    try:
        await nc.connect(url, error_cb=error_cb, **options)
    except _Refused as refused:
        # Left as nats-py leaves a first connection that fails without retries (closing the
        # transport of a failed TLS handshake waits forever).
        cause = refused.__cause__ or refused
        message = refusal_message(url, cause, with_certificate=options.get("tls") is not None)
        raise ConfigError(message) from None
    connecting = False
    return nc
