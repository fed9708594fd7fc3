"""Who starts, signals or cancels a run, and whether the run's service lets them.

The caller of a start (signal, cancel) is the service of the bridge that asks. Under mutual TLS
it proves it: the request carries the bridge's certificate and a signature, made with its key,
over what is asked (action, run id, workflow); the service running the workflow checks the
certificate against its CA, reads the service from it as it does for RPC callers, and checks the
signature. Without TLS on that service the name is taken as claimed (it proves nothing, like
the caller an RPC names in ``sb-call``). The access policy is then the RPC one (runtime_lib._access): ``AccessPolicy.
workflows`` over the graph's ``allowed_callers``, else ``AccessPolicy.default``; a service may
always drive its own runs. A refusal is a :class:`PolicyViolation` whose ``method`` is
:func:`action_name`, reported on the bridge's ``policy_violation`` event as a refused call is.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from runtime_lib._access.policy import AccessPolicy, PolicyViolation
from runtime_lib._errors import ConfigError
from runtime_lib._security.bridge_tls import BridgeTls
from runtime_lib._security.identity import PeerIdentityError, service_of
from runtime_lib.workflows.steps import Workflow


def action_name(action: str, workflow: str) -> str:
    """A workflow action where a refused RPC names its method (``PolicyViolation.method``)."""
    return f"workflow {workflow}: {action}"


def _signed(action: str, run_id: str, workflow: str) -> bytes:
    return json.dumps([action, run_id, workflow]).encode()


def caller_proof(
    service: str, tls: BridgeTls | None, action: str, run_id: str, workflow: str
) -> dict[str, str]:
    """What a driving bridge sends with a start, signal or cancel of ``run_id``."""
    if tls is None:
        return {"service": service}
    material = tls.files.current
    key = serialization.load_pem_private_key(material.key_pem, password=None)
    data = _signed(action, run_id, workflow)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(data)
    else:
        raise ConfigError(
            f"{tls.files.config.key}: workflow requests are signed with an EC, RSA or Ed25519 "
            f"key, not {type(key).__name__}; issue one with sb-certs"
        )
    return {
        "service": service,
        "cert": material.cert_pem.decode("ascii"),
        "signature": base64.b64encode(signature).decode("ascii"),
    }


class Gate:
    """The access check of one service's runs (the interpreter asks it before a step runs)."""

    def __init__(
        self,
        service: str,
        policy: AccessPolicy,
        tls: BridgeTls | None,
        graphs: dict[str, Workflow],
        report: Callable[[PolicyViolation], None],
    ) -> None:
        self._service = service
        self._policy = policy
        self._tls = tls
        self._graphs = graphs
        self.report = report  # the bridge's policy_violation event; the interpreter calls it

    def refusal(
        self, workflow: str, action: str, run_id: str, caller: Any, child: bool, now: dt.datetime
    ) -> PolicyViolation | None:
        """Why ``caller`` may not ``action`` the run ``run_id`` of ``workflow``; None: it may.
        ``now`` is the run's own time (deterministic on replay)."""
        claimed = caller.get("service", "") if isinstance(caller, dict) else ""
        who = claimed
        if self._tls is not None and not child:
            try:
                who = self._verified(caller, action, run_id, workflow, now)
            except PeerIdentityError as exc:
                reason = f"{action} of workflow {workflow} refused: {exc}"
                return self._violation(workflow, action, claimed, reason)
        if who == self._service:
            return None
        graph = self._graphs.get(workflow)
        declared = graph.allowed_callers if graph is not None else None
        allowed = self._policy.allowed_workflow(workflow, declared)
        if allowed is None or who in allowed:
            return None
        reason = (
            f"{who!r} may not {action} workflow {workflow}"
            if who
            else (f"an anonymous caller may not {action} workflow {workflow}")
        )
        return self._violation(workflow, action, who, reason)

    def _violation(self, workflow: str, action: str, who: str, reason: str) -> PolicyViolation:
        return PolicyViolation("server", self._service, action_name(action, workflow), who, reason)

    def _verified(
        self, caller: Any, action: str, run_id: str, workflow: str, now: dt.datetime
    ) -> str:
        assert self._tls is not None
        if not isinstance(caller, dict) or "cert" not in caller or "signature" not in caller:
            raise PeerIdentityError("the caller presented no certificate")
        try:
            cert = x509.load_pem_x509_certificate(str(caller["cert"]).encode("ascii"))
            signature = base64.b64decode(str(caller["signature"]))
        except ValueError:
            raise PeerIdentityError("the caller's certificate is not readable") from None
        cas = x509.load_pem_x509_certificates(self._tls.files.current.ca_pem)
        if not any(_issued_by(cert, ca) for ca in cas):
            raise PeerIdentityError("the caller's certificate is not issued by our CA")
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise PeerIdentityError("the caller's certificate is not valid now")
        public_key = cert.public_key()
        data = _signed(action, run_id, workflow)
        try:
            if isinstance(public_key, ec.EllipticCurvePublicKey):
                public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            elif isinstance(public_key, rsa.RSAPublicKey):
                public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(public_key, ed25519.Ed25519PublicKey):
                public_key.verify(signature, data)
            else:
                raise InvalidSignature
        except InvalidSignature:
            raise PeerIdentityError("the caller's signature does not match its request") from None
        return service_of(cert, self._tls.trust_domain)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
