"""sb-certs on real files: the chain verifies with cryptography, modes, SANs, lifetimes, renewal."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from runtime_lib._errors import ConfigError
from runtime_lib._security import certs
from runtime_lib._security.cli import main
from runtime_lib._security.pem import read_certs

from .conftest import TRUST_DOMAIN


def _cert(path: Path) -> x509.Certificate:
    return read_certs(path, "certificate")[0]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_and_issue_through_the_cli(tmp_path: Path) -> None:
    directory = tmp_path / "certs"
    runner = CliRunner()
    result = runner.invoke(main, ["init", "--trust-domain", "example.org", "--dir", str(directory)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["issue", "payment", "--dir", str(directory)])
    assert result.exit_code == 0, result.output

    assert _mode(directory / "ca.key") == 0o600
    assert _mode(directory / "payment.key") == 0o600
    ca = _cert(directory / "ca.crt")
    leaf = _cert(directory / "payment.crt")
    # cryptography's own path validation, as a TLS peer would do it.
    verifier = PolicyBuilder().store(Store([ca])).build_client_verifier()
    verified = verifier.verify(leaf, [])
    assert x509.UniformResourceIdentifier("spiffe://example.org/service/payment") in (
        verified.subjects or []
    )
    server_verifier = (
        PolicyBuilder()
        .store(Store([ca]))
        .build_server_verifier(x509.DNSName("payment.example.org"))
    )
    server_verifier.verify(leaf, [])
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    # 24 h by default, plus the few minutes of backdating for clock skew.
    assert dt.timedelta(hours=24) <= lifetime <= dt.timedelta(hours=24, minutes=10)


def test_issue_ttl_option_sets_the_lifetime(cert_dir: Path) -> None:
    result = CliRunner().invoke(main, ["issue", "short", "--dir", str(cert_dir), "--ttl", "90m"])
    assert result.exit_code == 0, result.output
    leaf = _cert(cert_dir / "short.crt")
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert dt.timedelta(minutes=90) <= lifetime <= dt.timedelta(minutes=100)


def test_a_leaf_from_another_ca_does_not_verify(cert_dir: Path, stranger_dir: Path) -> None:
    verifier = PolicyBuilder().store(Store([_cert(cert_dir / "ca.crt")])).build_client_verifier()
    with pytest.raises(x509.verification.VerificationError):
        verifier.verify(_cert(stranger_dir / "payment.crt"), [])


def test_renew_is_idempotent_while_two_thirds_are_left(cert_dir: Path) -> None:
    before = (cert_dir / "payment.crt").read_bytes()
    result = CliRunner().invoke(main, ["renew", "payment", "--dir", str(cert_dir)])
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output
    assert (cert_dir / "payment.crt").read_bytes() == before


def test_renew_reissues_when_less_than_a_third_is_left(cert_dir: Path) -> None:
    old = _cert(cert_dir / "payment.crt")
    still_good = old.not_valid_after_utc - dt.timedelta(hours=9)
    assert certs.renew(cert_dir, "payment", now=still_good) is None
    late = old.not_valid_after_utc - dt.timedelta(hours=7)
    new = certs.renew(cert_dir, "payment", now=late)
    assert new is not None
    assert new.serial_number != old.serial_number
    assert _cert(cert_dir / "payment.crt").serial_number == new.serial_number
    # Same lifetime as the old one, counted from the renewal.
    assert new.not_valid_after_utc - late == dt.timedelta(hours=24)
    assert _mode(cert_dir / "payment.key") == 0o600


def test_renew_replaces_an_expired_certificate(cert_dir: Path) -> None:
    old = _cert(cert_dir / "payment.crt")
    new = certs.renew(cert_dir, "payment", now=old.not_valid_after_utc + dt.timedelta(days=1))
    assert new is not None and new.serial_number != old.serial_number


def test_renew_replaces_a_certificate_from_another_ca(cert_dir: Path, stranger_dir: Path) -> None:
    (cert_dir / "payment.crt").write_bytes((stranger_dir / "payment.crt").read_bytes())
    new = certs.renew(cert_dir, "payment")
    assert new is not None
    assert new.issuer == _cert(cert_dir / "ca.crt").subject
    new.verify_directly_issued_by(_cert(cert_dir / "ca.crt"))


def test_show_prints_identities_and_validity(cert_dir: Path) -> None:
    result = CliRunner().invoke(main, ["show", str(cert_dir / "payment.crt")])
    assert result.exit_code == 0, result.output
    assert "URI:spiffe://example.org/service/payment" in result.output
    assert "DNS:payment.example.org" in result.output
    assert "kind:        leaf" in result.output
    assert "expires in 23h" in result.output


def test_show_marks_an_expired_certificate(cert_dir: Path) -> None:
    leaf = _cert(cert_dir / "payment.crt")
    text = certs.describe(cert_dir / "payment.crt", now=leaf.not_valid_after_utc)
    assert "(EXPIRED)" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["issue", "Pay_Ment"], "service name 'Pay_Ment': use lowercase letters"),
        (["issue", "payment", "--ttl", "3w"], "lifetime '3w': use a positive number and a unit"),
        (["init", "--trust-domain", "example.org"], "a CA already exists here"),
        (["init", "--trust-domain", "Not A Domain"], "use a lowercase DNS name"),
    ],
)
def test_bad_input_names_what_and_the_fix(cert_dir: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, [*args, "--dir", str(cert_dir)])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_issue_without_a_ca_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no CA in .*run sb-certs init"):
        certs.issue(tmp_path / "empty", "payment")


def test_show_of_a_file_that_is_not_a_certificate(cert_dir: Path) -> None:
    result = CliRunner().invoke(main, ["show", str(cert_dir / "payment.key")])
    assert result.exit_code != 0
    assert f"{cert_dir / 'payment.key'}: no PEM certificate" in result.output


def test_existing_ca_is_never_replaced(cert_dir: Path) -> None:
    before = (cert_dir / "ca.key").read_bytes()
    with pytest.raises(ConfigError, match="a CA already exists"):
        certs.init_ca(cert_dir, TRUST_DOMAIN)
    assert (cert_dir / "ca.key").read_bytes() == before
