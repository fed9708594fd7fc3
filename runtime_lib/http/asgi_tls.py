"""The ASGI TLS extension (asgiref's TLS spec 0.2): ``scope["extensions"]["tls"]``, which a server
sets on requests that came over TLS. Built here from a connection's ``ssl.SSLObject`` (for
servers that do not set it, such as uvicorn), and read for the client's certificate chain."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

# The spec reports versions by their number in the TLS protocol; ssl names them.
_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The extension for one connection, read once its handshake is complete: the client's
    certificate chain (PEM, leaf first; empty without one) and the TLS version. ``ssl`` cannot
    give the server's certificate, the subject's name as the spec writes it, nor the cipher's
    number: those are None, as the spec allows."""
    # Python 3.13+ gives the whole chain the handshake verified; before, only the leaf.
    verified_chain = getattr(ssl_object, "get_verified_chain", None)
    if verified_chain is not None:
        ders: list[bytes] = list(verified_chain())
    else:
        leaf = ssl_object.getpeercert(binary_form=True)
        ders = [leaf] if leaf else []
    version = ssl_object.version()
    return {
        "server_cert": None,
        "client_cert_chain": tuple(ssl.DER_cert_to_PEM_cert(der) for der in ders),
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(version) if version else None,
        "cipher_suite": None,
    }


def client_chain(scope: Mapping[str, Any]) -> list[bytes]:
    """The client's certificate chain (PEM, leaf first) the server put in ``scope``; empty when
    the request did not come over TLS, carried no certificate, or the server sets no extension."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not isinstance(tls, Mapping):
        return []
    # A text that is not ASCII is no PEM: replaced, it then fails to parse as one.
    return [str(pem).encode("ascii", "replace") for pem in tls.get("client_cert_chain") or ()]
