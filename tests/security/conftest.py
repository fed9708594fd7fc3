"""Certificate directories written by the real tool (one CA with services, and a stranger CA),
and a real nats-server secured for the services in :data:`SERVICES`: an external one configured
by ``sb-certs nats-config``, or the embedded broker a bridge with ``tls=`` starts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from click.testing import CliRunner

from runtime_lib._events.embedded import EmbeddedNats
from runtime_lib._nats_server import NatsServer
from runtime_lib._security import certs
from runtime_lib._security.bridge_tls import BridgeTls
from runtime_lib._security.cli import main
from runtime_lib._security.embedded_broker import SERVICES_FILE, SecuredEmbeddedBroker
from runtime_lib._security.nats_auth import ADMIN
from runtime_lib._security.tls import TlsConfig
from tests.ca import make_ca

TRUST_DOMAIN = "example.org"
SERVICES = {
    "payment": {"publishes": ["payment.done"], "subscribes": ["order.placed"]},
    "orders": {"publishes": ["order.placed"], "subscribes": ["payment.#"]},
}


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    """A CA for example.org with certificates for payment, orders and the broker (nats)."""
    return make_ca(tmp_path / "certs", TRUST_DOMAIN, "payment", "orders", "nats")


@pytest.fixture
def stranger_dir(tmp_path: Path) -> Path:
    """Another CA of the same trust domain name, with its own 'payment': trusted by nobody."""
    return make_ca(tmp_path / "stranger", TRUST_DOMAIN, "payment")


class Endpoint(Protocol):
    """Where a broker listens (a :class:`NatsServer`, or the embedded broker's address)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


@dataclass(frozen=True)
class Address:
    host: str
    port: int


def tls_url(server: Endpoint) -> str:
    return f"tls://{server.host}:{server.port}"


def write_services(cert_dir: Path) -> None:
    """:data:`SERVICES` where the embedded broker of these certificates reads its permissions."""
    (cert_dir / SERVICES_FILE).write_text(json.dumps(SERVICES))


@pytest.fixture
def broker(cert_dir: Path, tmp_path: Path) -> Iterator[NatsServer]:
    certs.issue(cert_dir, ADMIN)
    certs.issue(cert_dir, "intruder")  # from our CA, but no user of the broker
    services = tmp_path / "services.json"
    services.write_text(json.dumps(SERVICES))
    config = tmp_path / "nats.conf"
    # The config a user gets: sb-certs nats-config.
    result = CliRunner().invoke(
        main, ["nats-config", str(services), "--dir", str(cert_dir), "-o", str(config)]
    )
    assert result.exit_code == 0, result.output
    server = NatsServer(store_dir=tmp_path / "store", config_file=config).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["external", "embedded"])
def provisioned(
    request: pytest.FixtureRequest, cert_dir: Path, tmp_path: Path
) -> Iterator[Endpoint]:
    """A secured broker with its streams and buckets: an external nats-server provisioned by
    ``sb-certs provision``, or the embedded broker as a bridge with ``tls=`` starts it (its
    ``nats`` certificate from the fixture, ``sb-admin``'s issued on the spot from the CA key)."""
    if request.param == "external":
        broker: NatsServer = request.getfixturevalue("broker")
        arguments = ["provision", tls_url(broker), "--dir", str(cert_dir), "--registry-ttl", "60"]
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 0, result.output
        yield broker
        return
    certs.issue(cert_dir, "intruder")  # from our CA, but no user of the broker
    write_services(cert_dir)
    tls = BridgeTls(TlsConfig.from_dir(cert_dir, "payment"), "payment")
    embedded = EmbeddedNats(tmp_path / "data", SecuredEmbeddedBroker(tls))
    url = embedded.acquire()
    try:
        assert url.startswith("tls://")
        host, port = url.removeprefix("tls://").rsplit(":", 1)
        yield Address(host, int(port))
    finally:
        embedded.release()
