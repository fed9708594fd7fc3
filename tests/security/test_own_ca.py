"""Files from another CA (cert-manager, Vault, SPIRE): a root without a SPIFFE SAN, an
intermediate, leaves built here with cryptography the way such a CA issues them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runtime_lib._errors import ConfigError
from runtime_lib._security.pem import cert_pem, key_pem
from runtime_lib._security.tls import TlsConfig

NOW = dt.datetime.now(dt.UTC)


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _ca(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _leaf(
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    sans: list[x509.GeneralName],
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("svc"))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _files(tmp_path: Path, sans: list[x509.GeneralName]) -> TlsConfig:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca("corp root", root_key, None, root_key)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = _ca("corp issuing", mid_key, root, root_key)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf(key, mid, mid_key, sans)
    (tmp_path / "root.pem").write_bytes(cert_pem(root))
    (tmp_path / "chain.pem").write_bytes(cert_pem(leaf) + cert_pem(mid))
    (tmp_path / "key.pem").write_bytes(key_pem(key))
    return TlsConfig(
        ca=tmp_path / "root.pem", cert=tmp_path / "chain.pem", key=tmp_path / "key.pem"
    )


def test_a_chain_with_an_intermediate_loads_and_names_the_service(tmp_path: Path) -> None:
    config = _files(
        tmp_path,
        [
            x509.UniformResourceIdentifier("spiffe://corp.example/service/billing"),
            x509.DNSName("billing.corp.example"),
        ],
    )
    material = config.load()
    assert (material.service, material.trust_domain) == ("billing", "corp.example")


def test_a_leaf_without_any_identity_is_refused_with_the_fix(tmp_path: Path) -> None:
    config = _files(tmp_path, [])
    with pytest.raises(
        ConfigError,
        match=r"chain\.pem: carries no spiffe://.* URI SAN; issue it with sb-certs, or have your CA",
    ):
        config.load()


def test_a_leaf_of_another_trust_domain_is_refused(tmp_path: Path) -> None:
    config = _files(
        tmp_path, [x509.UniformResourceIdentifier("spiffe://corp.example/service/billing")]
    )
    with pytest.raises(ConfigError, match=r"chain\.pem: .*not in trust domain example\.org"):
        TlsConfig(config.ca, config.cert, config.key, trust_domain="example.org").load()
