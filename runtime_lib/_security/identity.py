"""Service identities: the SPIFFE ID and DNS name a service's certificate carries, and reading them back.

A service ``payment`` in trust domain ``example.org`` is ``spiffe://example.org/service/payment``
(the URI SAN, what servers check) and ``payment.example.org`` (the DNS SAN, what a gRPC client
checks, since gRPC Python verifies server names by hostname only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from cryptography import x509

from runtime_lib._errors import AccessDeniedError

# A DNS label: the service name becomes one in the DNS SAN.
_SERVICE_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TRUST_DOMAIN_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_SERVICE_PATH = "/service/"


class PeerIdentityError(AccessDeniedError):
    """A peer's certificate does not carry an identity of our trust domain."""


def check_service_name(service: str) -> str:
    """``service`` unchanged, or ValueError saying what a service name may hold."""
    if not _SERVICE_RE.match(service):
        raise ValueError(
            f"service name {service!r}: use lowercase letters, digits and '-' "
            "(a DNS label, at most 63 characters)"
        )
    return service


def check_trust_domain(trust_domain: str) -> str:
    """``trust_domain`` unchanged, or ValueError saying what a trust domain may hold."""
    if not _TRUST_DOMAIN_RE.match(trust_domain):
        raise ValueError(
            f"trust domain {trust_domain!r}: use a lowercase DNS name such as example.org"
        )
    return trust_domain


def spiffe_id(trust_domain: str, service: str) -> str:
    return f"spiffe://{trust_domain}{_SERVICE_PATH}{service}"


def dns_name(trust_domain: str, service: str) -> str:
    return f"{service}.{trust_domain}"


def uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def trust_domain_of(cert: x509.Certificate) -> str | None:
    """The trust domain a CA certificate names in its ``spiffe://<td>`` URI SAN, if any."""
    for uri in uri_sans(cert):
        parts = urlsplit(uri)
        if parts.scheme == "spiffe" and parts.netloc and parts.path in ("", "/"):
            return parts.netloc
    return None


def service_of(cert: x509.Certificate, trust_domain: str) -> str:
    """The service a leaf certificate identifies, or PeerIdentityError."""
    return service_in(uri_sans(cert), trust_domain)


def service_in(names: Iterable[str | bytes], trust_domain: str) -> str:
    """The service named by the one SPIFFE ID among a certificate's subject alternative names
    (``names``: its URI SANs, or as gRPC reports a verified peer, all its SANs), or
    PeerIdentityError.

    SPIFFE allows exactly one URI SAN in an identity document; it must be in ``trust_domain``
    and name a service.
    """
    texts = (n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)
    uris = [u for u in texts if u.startswith("spiffe://")]
    if len(uris) != 1:
        raise PeerIdentityError(f"certificate has {len(uris)} SPIFFE URI SANs, expected one")
    parts = urlsplit(uris[0])
    if parts.netloc != trust_domain:
        raise PeerIdentityError(
            f"certificate identity {uris[0]} is not in trust domain {trust_domain}"
        )
    name = parts.path[len(_SERVICE_PATH) :] if parts.path.startswith(_SERVICE_PATH) else ""
    if not _SERVICE_RE.match(name):
        raise PeerIdentityError(f"certificate identity {uris[0]} does not name a service")
    return name
