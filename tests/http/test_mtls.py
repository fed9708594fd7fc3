"""The caller's identity over HTTP: a real uvicorn on loopback serving with the bridge's mutual TLS
(``runtime_lib.http.uvicorn_tls``), httpx clients holding certificates written by the sb-certs
code. Who calls is the certificate's service, never a header; a client without a certificate
from the CA does not get through the handshake."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

import runtime_lib as sb
import runtime_lib.http as sb_http
from runtime_lib._security import certs
from runtime_lib._security.identity import PeerIdentityError
from runtime_lib.http.uvicorn_tls import TlsH11Protocol, uvicorn_config
from tests.ca import make_ca

from .serving import serving

TRUST_DOMAIN = "example.org"
# The server's certificate names front.example.org; the client dials 127.0.0.1 and checks that.
SNI = {"sni_hostname": f"front.{TRUST_DOMAIN}"}
MEMORY = sb.TelemetryConfig(exporter="memory")
FORGED = {
    "x-forwarded-client-cert": f"By=spiffe://{TRUST_DOMAIN}/service/front;"
    f"URI=spiffe://{TRUST_DOMAIN}/service/payment",
    "sb-caller": "payment",
}

Caller = Annotated[str | None, Depends(sb_http.caller)]


@dataclass
class Certs:
    ours: Path  # ca.crt, front, orders, payment
    stranger: Path  # another CA of the same trust domain, with its own "orders"


@pytest.fixture
def cert_dirs(tmp_path: Path) -> Certs:
    return Certs(
        make_ca(tmp_path / "certs", TRUST_DOMAIN, "front", "orders", "payment"),
        make_ca(tmp_path / "stranger", TRUST_DOMAIN, "orders"),
    )


@pytest.fixture
async def front(cert_dirs: Certs) -> AsyncIterator[sb.Bridge]:
    bridge = sb.Bridge(
        "front",
        tls=sb.TlsConfig.from_dir(cert_dirs.ours, "front"),
        events="memory",
        telemetry=MEMORY,
    )
    async with bridge:
        yield bridge


def front_app(bridge: sb.Bridge, seen: list[str | None]) -> FastAPI:
    app = FastAPI()
    app.add_middleware(sb_http.BridgeMiddleware, bridge=bridge)

    @app.get("/who")
    async def who(caller: Caller) -> dict[str, Any]:
        seen.append(caller)
        return {"caller": caller}

    @app.post("/refunds")
    async def refund(caller: Annotated[str, Depends(sb_http.allowed_callers("payment"))]) -> str:
        return caller

    @app.get("/anyone", dependencies=[Depends(sb_http.allowed_callers("*"))])
    async def anyone() -> str:
        return "in"

    async def starlette_who(request: Request) -> JSONResponse:
        return JSONResponse({"caller": sb_http.caller(request)})

    app.add_route("/starlette-who", starlette_who)
    return app


def client(base_url: str, ca: Path, holder: tuple[Path, str] | None) -> httpx.AsyncClient:
    """An HTTPS client trusting ``ca``, presenting ``holder``'s certificate (its directory and
    service) if given."""
    context = ssl.create_default_context(cafile=ca)
    if holder is not None:
        directory, service = holder
        context.load_cert_chain(directory / f"{service}.crt", directory / f"{service}.key")
    return httpx.AsyncClient(base_url=base_url, verify=context)


async def test_a_client_with_a_certificate_from_the_ca_is_its_service(
    cert_dirs: Certs, front: sb.Bridge
) -> None:
    seen: list[str | None] = []
    config = uvicorn_config(front_app(front, seen), front, lifespan="off", log_level="warning")
    async with serving(config) as url:
        ca = cert_dirs.ours / "ca.crt"
        async with client(url, ca, (cert_dirs.ours, "orders")) as http:
            fastapi = await http.get("/who", extensions=SNI)
            starlette = await http.get("/starlette-who", extensions=SNI)
            anyone = await http.get("/anyone", extensions=SNI)
        async with client(url, ca, (cert_dirs.ours, "payment")) as http:
            payment = await http.get("/who", extensions=SNI)
    assert fastapi.json() == {"caller": "orders"}
    assert starlette.json() == {"caller": "orders"}
    assert anyone.status_code == 200
    assert payment.json() == {"caller": "payment"}


async def test_the_caller_is_an_attribute_of_the_request_span(
    cert_dirs: Certs, front: sb.Bridge
) -> None:
    config = uvicorn_config(front_app(front, []), front, lifespan="off", log_level="warning")
    orders = (cert_dirs.ours, "orders")
    async with serving(config) as url, client(url, cert_dirs.ours / "ca.crt", orders) as http:
        assert (await http.get("/who", extensions=SNI)).status_code == 200
    [span] = [s for s in front.telemetry.memory.spans() if s.name == "GET /who"]
    assert span.attributes is not None
    assert span.attributes["sb.caller"] == "orders"
    assert span.attributes["url.scheme"] == "https"


@pytest.mark.parametrize("holder", ["none", "stranger"])
async def test_without_a_certificate_from_the_ca_the_handshake_fails(
    cert_dirs: Certs, front: sb.Bridge, holder: str
) -> None:
    seen: list[str | None] = []
    config = uvicorn_config(front_app(front, seen), front, lifespan="off", log_level="warning")
    presented = None if holder == "none" else (cert_dirs.stranger, "orders")
    async with serving(config) as url:
        async with client(url, cert_dirs.ours / "ca.crt", presented) as http:
            with pytest.raises(httpx.TransportError):
                await http.get("/who", extensions=SNI)
        # The server still serves the clients it should: the refusal was that connection's.
        async with client(url, cert_dirs.ours / "ca.crt", (cert_dirs.ours, "orders")) as http:
            assert (await http.get("/who", extensions=SNI)).json() == {"caller": "orders"}
    assert seen == ["orders"]


async def _served_by(url: str, ca: Path, holder: tuple[Path, str]) -> bytes:
    """The certificate the server presents to a new connection (DER), once it answered who
    the caller is."""
    async with client(url, ca, holder) as http:
        response = await http.get("/who", extensions=SNI)
        assert response.json() == {"caller": holder[1]}
        ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        assert isinstance(der, bytes)
        return der


async def test_rotated_files_apply_from_the_next_connection(
    cert_dirs: Certs, front: sb.Bridge
) -> None:
    config = uvicorn_config(front_app(front, []), front, lifespan="off", log_level="warning")
    ca, orders = cert_dirs.ours / "ca.crt", (cert_dirs.ours, "orders")
    async with serving(config) as url:
        before = await _served_by(url, ca, orders)
        certs.issue(cert_dirs.ours, "front")  # what sb-certs renew does: new key, new certificate
        certs.issue(cert_dirs.ours, "orders")
        after = await _served_by(url, ca, orders)
        async with client(url, ca, None) as http:
            with pytest.raises(httpx.TransportError):
                await http.get("/who", extensions=SNI)
    rotated = x509.load_pem_x509_certificate((cert_dirs.ours / "front.crt").read_bytes())
    assert before != after
    assert after == rotated.public_bytes(Encoding.DER)


async def test_a_forged_identity_header_changes_nothing(cert_dirs: Certs, front: sb.Bridge) -> None:
    seen: list[str | None] = []
    app = front_app(front, seen)
    config = uvicorn_config(app, front, lifespan="off", log_level="warning")
    orders = (cert_dirs.ours, "orders")
    async with serving(config) as url, client(url, cert_dirs.ours / "ca.crt", orders) as http:
        who = await http.get("/who", headers=FORGED, extensions=SNI)
        refund = await http.post("/refunds", headers=FORGED, extensions=SNI)
    # Plain HTTP: no certificate, so no caller, whatever the headers claim.
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        plain = await http.get("/who", headers=FORGED)
    assert who.json() == {"caller": "orders"}
    assert refund.status_code == 403
    assert plain.json() == {"caller": None}
    assert seen == ["orders", None]


async def test_a_server_trusting_another_ca_does_not_widen_who_calls(
    cert_dirs: Certs, front: sb.Bridge, tmp_path: Path
) -> None:
    """uvicorn configured by hand with a CA bundle holding a second CA lets that CA's 'orders'
    through the handshake; the middleware checks the chain against the bridge's CA and refuses
    it before the app runs."""
    bundle = tmp_path / "bundle.crt"
    bundle.write_bytes(
        (cert_dirs.ours / "ca.crt").read_bytes() + (cert_dirs.stranger / "ca.crt").read_bytes()
    )
    seen: list[str | None] = []
    config = uvicorn.Config(
        front_app(front, seen),
        http=TlsH11Protocol,
        ssl_certfile=cert_dirs.ours / "front.crt",
        ssl_keyfile=cert_dirs.ours / "front.key",
        ssl_ca_certs=bundle,
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        lifespan="off",
        log_level="warning",
    )
    async with serving(config) as url:
        async with client(url, cert_dirs.ours / "ca.crt", (cert_dirs.stranger, "orders")) as http:
            refused = await http.get("/who", extensions=SNI)
        async with client(url, cert_dirs.ours / "ca.crt", (cert_dirs.ours, "orders")) as http:
            admitted = await http.get("/who", extensions=SNI)
    assert refused.status_code == 403
    assert refused.json()["details"][0]["reason"] == "ACCESS_DENIED"
    assert "not issued by this service's CA" in refused.json()["message"]
    assert admitted.json() == {"caller": "orders"}
    assert seen == ["orders"]


async def test_a_route_admits_only_its_allowed_callers(cert_dirs: Certs, front: sb.Bridge) -> None:
    violations: list[Any] = []
    front.on("policy_violation", violations.append)
    config = uvicorn_config(front_app(front, []), front, lifespan="off", log_level="warning")
    async with serving(config) as url:
        ca = cert_dirs.ours / "ca.crt"
        async with client(url, ca, (cert_dirs.ours, "payment")) as http:
            admitted = await http.post("/refunds", extensions=SNI)
        async with client(url, ca, (cert_dirs.ours, "orders")) as http:
            refused = await http.post("/refunds", extensions=SNI)
    assert (admitted.status_code, admitted.json()) == (200, "payment")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "'orders' may not call POST /refunds"}
    [violation] = violations
    assert (violation.side, violation.service_name, violation.caller, violation.method) == (
        "server",
        "front",
        "orders",
        "POST /refunds",
    )


def test_serving_with_tls_needs_a_bridge_on_tls_and_keeps_its_settings(cert_dirs: Certs) -> None:
    plain = sb.Bridge("front", events="memory")
    with pytest.raises(sb.ConfigError, match="has no tls="):
        uvicorn_config(FastAPI(), plain)
    secured = sb.Bridge(
        "front", tls=sb.TlsConfig.from_dir(cert_dirs.ours, "front"), events="memory"
    )
    with pytest.raises(
        sb.ConfigError, match=r"ssl_cert_reqs=\.\.\.\): set from the bridge's TlsConfig"
    ):
        uvicorn_config(FastAPI(), secured, ssl_cert_reqs=ssl.CERT_NONE)
    with pytest.raises(sb.ConfigError, match="allowed_callers\\('Orders'\\)"):
        sb_http.allowed_callers("Orders")


def test_a_remembered_certificate_is_refused_once_it_expires(
    cert_dirs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identities are cached per certificate; a server that does not check expiry itself (one
    whose connection outlived the certificate) still gets no caller from an expired one."""
    front = sb.Bridge("front", tls=sb.TlsConfig.from_dir(cert_dirs.ours, "front"), events="memory")
    assert front.tls is not None
    pem = (cert_dirs.ours / "orders.crt").read_bytes()
    assert front.tls.caller_of([pem]) == "orders"
    expiry = x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp()
    monkeypatch.setattr(time, "time", lambda: expiry)  # the moment it expires
    with pytest.raises(PeerIdentityError, match="expired"):
        front.tls.caller_of([pem])
