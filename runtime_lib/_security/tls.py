"""TLS for gRPC from certificate files: loading them, server and client credentials, peer identity.

- :class:`TlsConfig` names a CA bundle, a certificate (chain) and its key; :meth:`TlsConfig.load`
  checks them (present, key matching the certificate, within its validity, issued by the CA,
  carrying one SPIFFE identity of the trust domain) and fails with a :class:`ConfigError` saying
  which file and what to do.
- :class:`TlsFiles` holds the last good load and re-reads the files when their mtime changes;
  a set of files caught mid-rotation (new certificate, old key) is skipped until it is whole.
- :func:`server_credentials` requires and verifies client certificates and picks up rotated
  files on the next handshake (``grpc.dynamic_ssl_server_credentials``), so calls in flight and
  open connections are untouched.
- :func:`channel_credentials` and :func:`target_options` make a client present its certificate
  and accept only the server it meant to call: gRPC Python cannot check URI SANs, so the
  expected service's DNS SAN (``<service>.<trust domain>``) is pinned with
  ``grpc.ssl_target_name_override``.
- :func:`peer_service` reads the verified caller's service name from a grpc.aio
  ``ServicerContext`` (what ``ctx.caller`` will be); :func:`peer_certificate` parses a peer's PEM.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from runtime_lib._errors import ConfigError
from runtime_lib._security import pem
from runtime_lib._security.certs import CertDir
from runtime_lib._security.identity import (
    PeerIdentityError,
    dns_name,
    service_in,
    service_of,
    trust_domain_of,
    uri_sans,
)

log = logging.getLogger("runtime_lib.security")


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """One consistent, checked set of files."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    service: str
    trust_domain: str


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Where a service's TLS files are. ``trust_domain`` defaults to the one the CA names."""

    ca: Path
    cert: Path
    key: Path
    trust_domain: str | None = None

    @classmethod
    def from_dir(cls, directory: Path | str, service: str) -> TlsConfig:
        """The files ``sb-certs`` writes: ``ca.crt``, ``<service>.crt``, ``<service>.key``."""
        files = CertDir(Path(directory))
        return cls(ca=files.ca_cert, cert=files.cert(service), key=files.key(service))

    def load(self, *, now: dt.datetime | None = None) -> TlsMaterial:
        ca_pem = pem.read_bytes(self.ca, "CA certificate")
        cert_pem = pem.read_bytes(self.cert, "certificate")
        key_pem = pem.read_bytes(self.key, "private key")
        cas = pem.load_certs(ca_pem, self.ca, "CA certificate")
        chain = pem.load_certs(cert_pem, self.cert, "certificate")
        leaf = chain[0]
        key = pem.load_key(key_pem, self.key)
        if _spki(key.public_key()) != _spki(leaf.public_key()):
            raise ConfigError(
                f"{self.key}: this key does not belong to the certificate {self.cert}; "
                "the pair was mixed up or half rotated: issue both again (sb-certs issue)"
            )
        moment = now or dt.datetime.now(dt.UTC)
        if moment >= leaf.not_valid_after_utc:
            raise ConfigError(
                f"{self.cert}: expired at {leaf.not_valid_after_utc.isoformat()}; "
                "renew it (sb-certs renew <service>) or have your CA issue a new one"
            )
        if moment < leaf.not_valid_before_utc:
            raise ConfigError(
                f"{self.cert}: not valid before {leaf.not_valid_before_utc.isoformat()}; "
                "check this machine's clock"
            )
        identities = [uri for uri in uri_sans(leaf) if uri.startswith("spiffe://")]
        if not identities:
            raise ConfigError(
                f"{self.cert}: carries no spiffe://<trust domain>/service/<name> URI SAN; "
                "issue it with sb-certs, or have your CA put the service's SPIFFE ID in it"
            )
        verifier = PolicyBuilder().store(Store(cas)).time(moment).build_client_verifier()
        try:
            verifier.verify(leaf, chain[1:])
        except VerificationError as exc:
            raise ConfigError(
                f"{self.cert}: not issued by the CA in {self.ca} ({exc}); use the CA that "
                "issued it, or issue a certificate from this CA"
            ) from None
        trust_domain = self.trust_domain or _trust_domain(cas, identities[0])
        try:
            service = service_of(leaf, trust_domain)
        except PeerIdentityError as exc:
            raise ConfigError(
                f"{self.cert}: {exc.message}; issue it with sb-certs, or have your CA put "
                f"spiffe://{trust_domain}/service/<name> in its URI SAN"
            ) from None
        return TlsMaterial(
            ca_pem=ca_pem,
            cert_pem=cert_pem,
            key_pem=key_pem,
            service=service,
            trust_domain=trust_domain,
        )


def _spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _trust_domain(cas: Sequence[x509.Certificate], identity: str) -> str:
    for ca in cas:
        found = trust_domain_of(ca)
        if found:
            return found
    # A CA of another tool may not name its trust domain: the leaf's SPIFFE ID does.
    return urlsplit(identity).netloc


_Stamp = tuple[tuple[int, int, int] | None, ...]


class TlsFiles:
    """The last good :class:`TlsMaterial` of a :class:`TlsConfig`, re-read when the files change.

    Thread-safe: gRPC calls :func:`server_credentials`' fetcher from its own threads.
    """

    def __init__(self, config: TlsConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._failed: _Stamp | None = None
        self._current = config.load()
        self.reloads = 0

    @property
    def current(self) -> TlsMaterial:
        return self._current

    def _stat(self) -> _Stamp:
        stamps: list[tuple[int, int, int] | None] = []
        for path in (self.config.ca, self.config.cert, self.config.key):
            try:
                st = os.stat(path)
            except OSError:
                stamps.append(None)
            else:
                stamps.append((st.st_mtime_ns, st.st_ino, st.st_size))
        return tuple(stamps)

    def refresh(self) -> bool:
        """Re-read the files if they changed; True when new material was loaded."""
        with self._lock:
            stamp = self._stat()
            if stamp == self._stamp:
                return False
            try:
                material = self.config.load()
            except ConfigError as exc:
                # Mid-rotation or broken: keep serving with what we have, say so once per state.
                if stamp != self._failed:
                    log.warning(
                        "TLS files changed but cannot be used yet, keeping the old: %s", exc
                    )
                    self._failed = stamp
                return False
            self._stamp, self._current = stamp, material
            self.reloads += 1
            return True


def _server_config(material: TlsMaterial) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(material.key_pem, material.cert_pem)], root_certificates=material.ca_pem
    )


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Server credentials that require a client certificate from the CA and reload rotated files."""

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        # None keeps the current configuration; called on every new handshake.
        return _server_config(files.current) if files.refresh() else None

    # grpc documents None as "keep the current configuration"; its stubs omit it.
    fetcher = cast("Callable[[], grpc.ServerCertificateConfiguration]", fetch)
    return grpc.dynamic_ssl_server_credentials(
        _server_config(files.current), fetcher, require_client_authentication=True
    )


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    """Client credentials from the current files (a channel made later gets rotated ones)."""
    files.refresh()
    material = files.current
    return grpc.ssl_channel_credentials(
        root_certificates=material.ca_pem,
        private_key=material.key_pem,
        certificate_chain=material.cert_pem,
    )


def target_options(trust_domain: str, service: str) -> list[tuple[str, str]]:
    """Channel options that make the handshake succeed only with ``service``'s certificate."""
    return [("grpc.ssl_target_name_override", dns_name(trust_domain, service))]


def verified_names(context: grpc.aio.ServicerContext[Any, Any]) -> tuple[bytes, ...]:
    """The subject alternative names of the client certificate gRPC verified in this call's
    handshake, or PeerIdentityError.

    ``peer_identities()`` reads them from the connection's auth context as they are;
    ``auth_context()`` would build a dict of every property, the certificate's PEM included,
    on each call.
    """
    names = context.peer_identities()
    if not names:
        raise PeerIdentityError("the caller presented no verified certificate")
    return tuple(names)


def peer_service(context: grpc.aio.ServicerContext[Any, Any], trust_domain: str) -> str:
    """The service named by the verified client certificate of this call, or PeerIdentityError."""
    return service_in(verified_names(context), trust_domain)


def peer_certificate(pem: bytes) -> x509.Certificate:
    """A peer's PEM certificate parsed, or PeerIdentityError (never cryptography's ValueError)."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise PeerIdentityError("the caller's certificate cannot be parsed") from None
