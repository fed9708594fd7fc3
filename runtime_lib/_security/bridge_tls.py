"""A bridge's mutual TLS: its own identity, the server's credentials, and who the peers are.

- :class:`BridgeTls` loads the bridge's files once (a :class:`ConfigError` naming the file if they
  are unusable or name another service), gives the gRPC server its reloading credentials, and
  reads each call's caller from the verified client certificate (``sb-caller`` is not read).
- :class:`TargetTls` is what a client connection to one service needs: grpcio credentials and
  the ``ssl_target_name_override`` pin, or for grpclib an ``ssl.SSLContext`` and the server name
  to check. A connection made after a rotation uses the rotated files.
- :meth:`BridgeTls.nats_options` is what the bridge's NATS connections (event bus, KV registry)
  connect with: the same certificate, the broker's name, the service's own inbox prefix.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from runtime_lib._errors import ConfigError
from runtime_lib._security.identity import dns_name, service_in
from runtime_lib._security.nats_auth import connect_options
from runtime_lib._security.tls import (
    TlsConfig,
    TlsFiles,
    channel_credentials,
    server_credentials,
    verified_names,
)

# A caller's service name is a function of its certificate's names alone (verified by gRPC in
# the handshake); a process meets few distinct callers, so the answers are kept (bounded).
_MAX_CALLERS = 1024


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
        self._callers: dict[tuple[bytes, ...], str] = {}

    def server_credentials(self) -> grpc.ServerCredentials:
        return server_credentials(self.files)

    def caller(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """The calling service, from its verified certificate; PeerIdentityError otherwise."""
        names = verified_names(context)
        name = self._callers.get(names)
        if name is None:
            name = service_in(names, self.trust_domain)
            if len(self._callers) >= _MAX_CALLERS:
                self._callers.clear()
            self._callers[names] = name
        return name

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
        files = self.bridge.files
        files.refresh()
        material = files.current
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cadata=material.ca_pem.decode("ascii")
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["h2"])
        config = files.config
        # ssl reads keys only from files: between the check above and this read a rotation
        # may have replaced one of the pair (key first): read again once it is whole.
        for attempt in range(2):
            try:
                context.load_cert_chain(config.cert, config.key)
            except (OSError, ssl.SSLError) as exc:
                if attempt == 0 and files.refresh():
                    continue
                raise ConfigError(
                    f"{config.cert}: cannot be loaded with {config.key} ({exc}); "
                    "the pair may be mid-rotation: issue both again (sb-certs issue)"
                ) from None
            break
        return context
