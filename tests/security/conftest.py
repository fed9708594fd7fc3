"""Certificate directories written by the real tool: one CA with services, and a stranger CA."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime_lib._security import certs

TRUST_DOMAIN = "example.org"


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
