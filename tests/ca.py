"""Certificates for the TLS tests: a CA of their own and its leaves, issued by sb-certs' code into
a folder, as `sb-certs init` and `sb-certs issue` would."""

from __future__ import annotations

from pathlib import Path

from runtime_lib._security import certs


def make_ca(directory: Path, trust_domain: str, *services: str) -> Path:
    """A CA for ``trust_domain`` in ``directory``, and a certificate for each of ``services``."""
    certs.init_ca(directory, trust_domain)
    for service in services:
        certs.issue(directory, service)
    return directory
