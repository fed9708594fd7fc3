"""Reading and writing PEM files: certificates, private keys, with errors that name the file.

Writes are atomic (a temporary file renamed over the old one), so a process reloading the files
never reads half of one; private keys are created with mode 0600.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from runtime_lib._errors import ConfigError

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


def read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: {what} not found; create it with sb-certs, or point the config at the right file"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read {what} ({exc.strerror}); check its permissions"
        ) from None


def load_certs(data: bytes, path: Path, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise ConfigError(f"{path}: no PEM certificate in this {what}; is it the right file?")
    return certs


def load_key(data: bytes, path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{path}: not an unencrypted PEM private key; is it the right file?"
        ) from None


def read_certs(path: Path, what: str) -> list[x509.Certificate]:
    return load_certs(read_bytes(path, what), path, what)


def read_key(path: Path) -> PrivateKeyTypes:
    return load_key(read_bytes(path, "private key"), path)


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` in one rename; the file never exists with a wider mode."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
