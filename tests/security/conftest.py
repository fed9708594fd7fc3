"""Certificate directories written by the real tool (one CA with services, and a stranger CA),
and a real nats-server secured by ``sb-certs nats-config`` for the services in :data:`SERVICES`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from runtime_lib._nats_server import NatsServer
from runtime_lib._security import certs
from runtime_lib._security.cli import main
from runtime_lib._security.nats_auth import ADMIN

TRUST_DOMAIN = "example.org"
SERVICES = {
    "payment": {"publishes": ["payment.done"], "subscribes": ["order.placed"]},
    "orders": {"publishes": ["order.placed"], "subscribes": ["payment.#"]},
}


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    """A CA for example.org with certificates for payment, orders and the broker (nats)."""
    directory = tmp_path / "certs"
    certs.init_ca(directory, TRUST_DOMAIN)
    for service in ("payment", "orders", "nats"):
        certs.issue(directory, service)
    return directory


@pytest.fixture
def stranger_dir(tmp_path: Path) -> Path:
    """Another CA of the same trust domain name, with its own 'payment': trusted by nobody."""
    directory = tmp_path / "stranger"
    certs.init_ca(directory, TRUST_DOMAIN)
    certs.issue(directory, "payment")
    return directory


def tls_url(server: NatsServer) -> str:
    return f"tls://{server.host}:{server.port}"


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


@pytest.fixture
def provisioned(broker: NatsServer, cert_dir: Path) -> NatsServer:
    """The streams and buckets, created by the provisioning identity (sb-certs provision)."""
    arguments = ["provision", tls_url(broker), "--dir", str(cert_dir), "--registry-ttl", "60"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    return broker
