"""The embedded broker of bridges with ``tls=``: its certificate, its users and their permissions.

What :class:`runtime_lib._events.embedded.EmbeddedNats` starts the shared ``nats-server`` with
when the bridge has a certificate (docs/decisions/0011-embedded-broker-security.md):

- **Permissions**: ``services.json`` in the CA's folder (the file ``sb-certs nats-config``
  reads) lists every service of the deployment. The first bridge to start the broker gives it
  every service's user, so the others need no reload; a bridge whose service is missing from
  the file refuses to start, naming the file.
- **Certificates**: the broker presents the ``nats`` leaf and the streams are created by the
  ``sb-admin`` leaf, both in that folder. Where the CA key is there too (``sb-certs init``'s
  layout), missing or ageing ones are issued on the spot (``sb-certs renew``) for a year: the
  broker reads its certificate only when it starts, and whoever can read the CA key next to
  them could mint any identity anyway. Otherwise the error names the ``sb-certs issue``
  commands to run where the CA key lives.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from runtime_lib._errors import ConfigError
from runtime_lib._security import certs
from runtime_lib._security.bridge_tls import BridgeTls
from runtime_lib._security.nats_auth import ADMIN, BROKER, load_services, render, server_config
from runtime_lib._security.provision import provision
from runtime_lib._security.tls import TlsConfig

SERVICES_FILE = "services.json"
LOCAL_LEAF_TTL = dt.timedelta(days=365)


class SecuredEmbeddedBroker:
    """The :class:`runtime_lib._events.embedded.BrokerSecurity` of a bridge with ``tls=``."""

    def __init__(self, tls: BridgeTls) -> None:
        self.service = tls.service
        self.directory = tls.files.config.ca.parent
        self.services_file = self.directory / SERVICES_FILE

    def server_config(self) -> str:
        """The nats-server config: TLS from the CA, one user per service of ``services.json``."""
        services = load_services(self.services_file)
        if self.service not in {spec.service for spec in services}:
            raise ConfigError(
                f"{self.services_file}: no entry for service {self.service!r}, so the embedded "
                f'broker would refuse it; add "{self.service}": {{"publishes": [...], '
                '"subscribes": [...]}} (docs/security.md)'
            )
        self._leaf(ADMIN)  # checked now: provisioning needs it once the broker is up
        return render(server_config(services, self._leaf(BROKER)))

    def provision(self, url: str) -> None:
        """Create the streams and buckets of a broker just started (blocking: called from the
        thread that holds the embedded broker's lock, before any other process may join)."""
        asyncio.run(provision(url, self._leaf(ADMIN)))

    def _leaf(self, name: str) -> TlsConfig:
        config = TlsConfig.from_dir(self.directory, name)
        if certs.CertDir(self.directory).ca_key.exists():
            certs.renew(self.directory, name, ttl=LOCAL_LEAF_TTL)
        elif not config.cert.exists():
            raise ConfigError(
                f"{config.cert}: missing; the embedded broker needs its own certificate and the "
                f"provisioning one: sb-certs issue {BROKER} --dir <CA dir> && sb-certs issue "
                f"{ADMIN} --dir <CA dir>, then copy them to {self.directory}"
            )
        config.load()  # a ConfigError naming the file if it is unusable
        return config
