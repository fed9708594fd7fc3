"""A bridge's mutual TLS: its own identity, the server's credentials, and who the peers are.

- :class:`BridgeTls` loads the bridge's files once (a :class:`ConfigError` naming the file if they
  are unusable or name another service), gives the gRPC server its reloading credentials, and
  maps a client certificate to its caller: each gRPC call's (the caller named in its metadata is not read) and each
  HTTP request's (``runtime_lib.http``), in one place.
- :class:`TargetTls` is what a client connection to one service needs: grpcio credentials and
  the ``ssl_target_name_override`` pin, or for grpclib an ``ssl.SSLContext`` and the server name
  to check. A connection made after a rotation uses the rotated files.
- :meth:`BridgeTls.nats_options` is what the bridge's NATS connections (event bus, KV registry)
  connect with: the same certificate, the broker's name, the service's own inbox prefix.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from runtime_lib._errors import ConfigError
from runtime_lib._security.identity import PeerIdentityError, dns_name, service_in, service_of
from runtime_lib._security.nats_auth import connect_options
from runtime_lib._security.tls import (
    TlsConfig,
    TlsFiles,
    TlsMaterial,
    channel_credentials,
    peer_certificate,
    server_credentials,
    verified_names,
)

log = logging.getLogger("runtime_lib.security")

# A process meets few distinct callers, so who they are is kept (bounded): over gRPC a
# function of the names in the certificate gRPC verified in the handshake; over HTTPS
# of the certificate itself, which is parsed and checked here once.
_MAX_CALLERS = 1024


@dataclass(frozen=True, slots=True)
class _Caller:
    service: str
    expires: float  # the certificate's notAfter, as a time.time() value


class BridgeTls:
    """The TLS side of ``Bridge(service, tls=TlsConfig(...))``."""

    def __init__(self, config: TlsConfig, service: str) -> None:
        self.files = TlsFiles(config)
        material = self.files.current
        if material.service != service:
            raise ConfigError(
                f"{config.cert}: is the certificate of service {material.service!r}, but this "
                f"bridge is {service!r}; use TlsConfig.from_dir(dir, {service!r}) or issue one "
                f"(sb-certs issue {service})"
            )
        self.service = service
        self.trust_domain = material.trust_domain
        self._grpc_callers: dict[tuple[str | bytes, ...], str] = {}
        self._callers: dict[bytes, _Caller] = {}
        self._checked_with = material  # the files the cached callers were checked against
        self._store: Store | None = None

    def server_credentials(self) -> grpc.ServerCredentials:
        return server_credentials(self.files)

    def server_ssl_context(self, alpn: Sequence[str] = ()) -> ssl.SSLContext:
        """For an HTTPS server (``runtime_lib.http.uvicorn_tls``) or the grpclib server (``alpn``
        ``["h2"]``): our certificate, and a client certificate from the CA required. Rotated
        files apply from the next handshake: ssl calls the context's ``sni_callback`` on every
        handshake (a server name sent or not), which moves the connection to a context made
        from the new files, as gRPC's fetcher does."""
        first, made_from = _ssl_context(self.files, ssl.Purpose.CLIENT_AUTH, alpn)
        latest = first

        def pick_up(ssl_object: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
            nonlocal latest, made_from
            self.files.refresh()
            if self.files.current is not made_from:
                try:
                    latest, made_from = _ssl_context(self.files, ssl.Purpose.CLIENT_AUTH, alpn)
                except ConfigError as exc:
                    # Caught mid-rotation: this handshake keeps the last good files, the next
                    # one tries again.
                    log.warning("TLS files changed but cannot be used yet: %s", exc)
            if latest is not first:
                ssl_object.context = latest

        first.sni_callback = pick_up
        return first

    def caller(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """The calling service, from its verified certificate; PeerIdentityError otherwise."""
        return self.caller_named(verified_names(context))

    def caller_named(self, names: tuple[str | bytes, ...]) -> str:
        """The calling service, from the subject alternative names of a client certificate the
        handshake verified against our CA; PeerIdentityError if they name none."""
        name = self._grpc_callers.get(names)
        if name is None:
            name = service_in(names, self.trust_domain)
            if len(self._grpc_callers) >= _MAX_CALLERS:
                self._grpc_callers.clear()
            self._grpc_callers[names] = name
        return name

    def caller_of(self, chain: Sequence[bytes]) -> str:
        """The service a client certificate chain (PEM, leaf first) identifies; PeerIdentityError
        if there is none, it is not from our CA, or names no service of our trust domain.

        For an ASGI server's TLS extension: the chain is checked here against this bridge's CA,
        as the server's TLS settings are not ours to see, and one trusting another CA would let
        that CA's certificates name our services.
        """
        if not chain:
            raise PeerIdentityError("the caller presented no verified certificate")
        material = self.files.current
        if material is not self._checked_with:
            # New files, perhaps a new CA: what was checked against the old one is checked again.
            self._callers.clear()
            self._checked_with, self._store = material, None
        known = self._callers.get(chain[0])
        if known is None:
            known = self._identify(chain, material)
            if len(self._callers) >= _MAX_CALLERS:
                self._callers.clear()
            self._callers[chain[0]] = known
        elif time.time() >= known.expires:
            raise PeerIdentityError("the caller's certificate has expired")
        return known.service

    def _identify(self, chain: Sequence[bytes], material: TlsMaterial) -> _Caller:
        certs = [peer_certificate(pem) for pem in chain]
        leaf = certs[0]
        if self._store is None:
            self._store = Store(x509.load_pem_x509_certificates(material.ca_pem))
        try:
            PolicyBuilder().store(self._store).build_client_verifier().verify(leaf, certs[1:])
        except VerificationError:
            raise PeerIdentityError(
                "the caller's certificate is not issued by this service's CA"
            ) from None
        return _Caller(service_of(leaf, self.trust_domain), leaf.not_valid_after_utc.timestamp())

    def nats_options(self) -> Mapping[str, Any]:
        """``nats.connect`` keywords, made per connection so rotated files are used."""
        return connect_options(self.files)

    def target(self, service: str) -> TargetTls:
        return TargetTls(self, service)


@dataclass(frozen=True, slots=True)
class TargetTls:
    """Client TLS for connections that must reach ``service`` and nothing else."""

    bridge: BridgeTls
    service: str

    @property
    def server_name(self) -> str:
        """The DNS SAN the server's certificate must carry: ``<service>.<trust domain>``."""
        return dns_name(self.bridge.trust_domain, self.service)

    def grpcio_credentials(self) -> grpc.ChannelCredentials:
        return channel_credentials(self.bridge.files)

    def ssl_context(self) -> ssl.SSLContext:
        """For grpclib: our certificate, the CA, and hostname checking against ``server_name``
        (set by the caller as ``ssl_target_name_override``)."""
        context, _ = _ssl_context(self.bridge.files, ssl.Purpose.SERVER_AUTH, ["h2"])
        return context


def _ssl_context(
    files: TlsFiles, purpose: ssl.Purpose, alpn: Sequence[str] = ()
) -> tuple[ssl.SSLContext, TlsMaterial]:
    """An ``ssl`` context with the current files: our certificate, the peer's required and
    checked against the CA, TLS 1.2 at least, the ``alpn`` protocols offered; and the material
    it was made from."""
    files.refresh()
    material = files.current
    context = ssl.create_default_context(purpose, cadata=material.ca_pem.decode("ascii"))
    if alpn:
        context.set_alpn_protocols(list(alpn))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED  # a server context's default is CERT_NONE
    config = files.config
    # ssl reads keys only from files: between the check above and this read a rotation
    # may have replaced one of the pair (key first): read again once it is whole.
    for attempt in range(2):
        try:
            context.load_cert_chain(config.cert, config.key)
        except (OSError, ssl.SSLError) as exc:
            if attempt == 0 and files.refresh():
                material = files.current
                continue
            raise ConfigError(
                f"{config.cert}: cannot be loaded with {config.key} ({exc}); "
                "the pair may be mid-rotation: issue both again (sb-certs issue)"
            ) from None
        break
    return context, material
