"""A small certificate authority for development and small deployments (``sb-certs``).

``init`` creates a CA for a trust domain; ``issue`` gives a service a short-lived leaf whose
identity is the URI SAN ``spiffe://<trust domain>/service/<name>``, plus the DNS SAN
``<name>.<trust domain>`` that gRPC clients check; ``renew`` re-issues a leaf once less than a
third of its lifetime is left. The layout of a directory (``ca.crt``, ``ca.key``,
``<service>.crt``, ``<service>.key``) is what :class:`runtime_lib._security.tls.TlsConfig` reads.
Bigger deployments bring their own CA; the runtime needs only the files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature as InvalidSignatureError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runtime_lib._errors import ConfigError
from runtime_lib._security import pem
from runtime_lib._security.identity import (
    check_service_name,
    check_trust_domain,
    dns_name,
    spiffe_id,
    trust_domain_of,
)

DEFAULT_TTL = dt.timedelta(hours=24)
DEFAULT_CA_TTL = dt.timedelta(days=5 * 365)
# Certificates start a little in the past so a peer whose clock lags accepts them at once.
_BACKDATE = dt.timedelta(minutes=5)
_TTL_RE = re.compile(r"^(\d+)([smhd])$")
_TTL_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class CertDir:
    """The files of one directory written by ``sb-certs``."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    def cert(self, service: str) -> Path:
        return self.root / f"{service}.crt"

    def key(self, service: str) -> Path:
        return self.root / f"{service}.key"


def parse_ttl(text: str) -> dt.timedelta:
    """``"24h"``, ``"30m"``, ``"7d"``, ``"90s"``, or ValueError naming the accepted forms."""
    match = _TTL_RE.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"lifetime {text!r}: use a positive number and a unit, e.g. 90s, 30m, 24h, 7d"
        )
    return dt.timedelta(**{_TTL_UNITS[match.group(2)]: int(match.group(1))})


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: supported by gRPC core, Go's crypto/tls (nats-server) and every TLS peer.
    return ec.generate_private_key(ec.SECP256R1())


def init_ca(
    directory: Path, trust_domain: str, *, ttl: dt.timedelta = DEFAULT_CA_TTL
) -> x509.Certificate:
    """Create ``ca.key`` (0600) and ``ca.crt`` for ``trust_domain``; refuse to replace a CA."""
    try:
        check_trust_domain(trust_domain)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    files = CertDir(directory)
    if files.ca_cert.exists() or files.ca_key.exists():
        raise ConfigError(
            f"{files.ca_cert}: a CA already exists here; replacing it would invalidate every "
            "certificate it issued. Use another --dir, or delete the old CA on purpose"
        )
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sb-gen CA {trust_domain}")])
    now = _now(None)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + ttl)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        # SPIFFE: a signing certificate may carry the trust domain's own ID.
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"spiffe://{trust_domain}")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem.write_atomic(files.ca_key, pem.key_pem(key), pem.PRIVATE_MODE)
    pem.write_atomic(files.ca_cert, pem.cert_pem(cert), pem.PUBLIC_MODE)
    return cert


def _load_ca(files: CertDir) -> tuple[x509.Certificate, PrivateKeyTypes, str]:
    if not files.ca_cert.exists():
        raise ConfigError(
            f"{files.ca_cert}: no CA in {files.root}; run sb-certs init --trust-domain <domain> "
            f"--dir {files.root} first"
        )
    cert = pem.read_certs(files.ca_cert, "CA certificate")[0]
    key = pem.read_key(files.ca_key)
    trust_domain = trust_domain_of(cert)
    if trust_domain is None:
        raise ConfigError(
            f"{files.ca_cert}: this CA names no spiffe://<trust domain> URI SAN; "
            "sb-certs issues only from a CA it created"
        )
    return cert, key, trust_domain


def issue(
    directory: Path,
    service: str,
    *,
    ttl: dt.timedelta = DEFAULT_TTL,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """Write ``<service>.key`` (0600, a fresh key) and ``<service>.crt`` signed by the CA here."""
    try:
        check_service_name(service)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    files = CertDir(directory)
    ca_cert, ca_key, trust_domain = _load_ca(files)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{files.ca_key}: expected the EC key sb-certs init writes")
    start = _now(now)
    end = min(start + ttl, ca_cert.not_valid_after_utc)
    key = _new_key()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - _BACKDATE)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Both: a service is a server to its callers and a client of the services it calls.
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(spiffe_id(trust_domain, service)),
                    x509.DNSName(dns_name(trust_domain, service)),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    # Key, then certificate: a reloader catching the pair in between sees a mismatch, rejects
    # it and keeps the old pair (tls.TlsFiles).
    pem.write_atomic(files.key(service), pem.key_pem(key), pem.PRIVATE_MODE)
    pem.write_atomic(files.cert(service), pem.cert_pem(cert), pem.PUBLIC_MODE)
    return cert


def renew(
    directory: Path,
    service: str,
    *,
    ttl: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> x509.Certificate | None:
    """Re-issue ``service``'s leaf when less than a third of its lifetime is left (or it is
    missing, or from another CA); None when it is still good. ``ttl`` defaults to the old one's."""
    files = CertDir(directory)
    ca_cert, _, _ = _load_ca(files)
    if not files.cert(service).exists():
        return issue(directory, service, ttl=ttl or DEFAULT_TTL, now=now)
    old = pem.read_certs(files.cert(service), "certificate")[0]
    lifetime = old.not_valid_after_utc - old.not_valid_before_utc - _BACKDATE
    left = old.not_valid_after_utc - _now(now)
    from_this_ca = old.issuer == ca_cert.subject and _issued_by(old, ca_cert)
    if from_this_ca and left > lifetime / 3 and files.key(service).exists():
        return None
    return issue(directory, service, ttl=ttl or lifetime, now=now)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignatureError):
        return False
    return True


def describe(path: Path, *, now: dt.datetime | None = None) -> str:
    """A readable summary of the certificate(s) in ``path`` (``sb-certs show``)."""
    lines: list[str] = []
    moment = _now(now)
    for cert in pem.read_certs(path, "certificate"):
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = [f"URI:{u}" for u in san.get_values_for_type(x509.UniformResourceIdentifier)]
            names += [f"DNS:{d}" for d in san.get_values_for_type(x509.DNSName)]
        except x509.ExtensionNotFound:
            names = []
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        left = cert.not_valid_after_utc - moment
        state = f"expires in {_human(left)}" if left.total_seconds() > 0 else "EXPIRED"
        fingerprint = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
        lines += [
            f"subject:     {cert.subject.rfc4514_string()}",
            f"issuer:      {cert.issuer.rfc4514_string()}",
            f"kind:        {'CA' if is_ca else 'leaf'}",
            f"identities:  {', '.join(names) or '(none)'}",
            f"not before:  {cert.not_valid_before_utc.isoformat()}",
            f"not after:   {cert.not_valid_after_utc.isoformat()} ({state})",
            f"serial:      {cert.serial_number:x}",
            f"sha256:      {fingerprint}",
            "",
        ]
    return "\n".join(lines).rstrip("\n")


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds % 60}s"
