"""Errors through the generated gateway: the HTTP status of every ServiceBridge code with a
``google.rpc.Status`` body, the ones a handler or the runtime really produce (in process and
over gRPC), and nothing internal in any of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import runtime_lib as sb
import runtime_lib.http as sb_http
from runtime_lib._errors import error_for
from tests._generated.http_library.library_gateway import library_gateway
from tests._generated.http_library.library_sb import LibraryClient

from .gateway_fixture import served_gateway
from .serving import serving

# The expected status of each code, written out (grpc-gateway's table from the gRPC code,
# except a handler's business refusal and a server's own misconfiguration).
EXPECTED = {
    sb.ErrorCode.HANDLER: 422,
    sb.ErrorCode.NO_LIVE_INSTANCE: 503,
    sb.ErrorCode.ACCESS_DENIED: 403,
    sb.ErrorCode.TIMEOUT: 504,
    sb.ErrorCode.CONNECTION: 503,
    sb.ErrorCode.OVERLOADED: 429,
    sb.ErrorCode.CANCELLED: 499,
    sb.ErrorCode.VALIDATION: 400,
    sb.ErrorCode.NOT_FOUND: 404,
    sb.ErrorCode.CONFIG: 500,
    sb.ErrorCode.CONFLICT: 409,
    sb.ErrorCode.QUEUE_FULL: 429,
    sb.ErrorCode.INVALID_EVENT_NAME: 400,
    sb.ErrorCode.OUTBOX_FULL: 429,
    sb.ErrorCode.STATE: 400,
    sb.ErrorCode.TERMINAL: 400,
    sb.ErrorCode.INTERNAL: 500,
}


class Failing:
    """An invoker that fails every call with one error: how each code reaches the gateway
    without arranging each failure for real (the real ones are tested below)."""

    def __init__(self, error: sb.ServiceBridgeError) -> None:
        self.error = error

    async def unary(self, method: Any, request: Any, options: Any) -> Any:
        raise self.error

    def server_stream(self, method: Any, request: Any, options: Any) -> Any:
        raise self.error

    async def client_stream(self, method: Any, requests: Any, options: Any) -> Any:
        raise self.error

    def bidi_stream(self, method: Any, requests: Any, options: Any) -> Any:
        raise self.error

    async def close(self) -> None:
        return None


def test_every_code_has_its_expected_status() -> None:
    assert set(EXPECTED) == set(sb.ErrorCode)


@pytest.mark.parametrize("code", list(sb.ErrorCode))
async def test_each_code_maps_to_its_status_with_a_google_rpc_status_body(
    code: sb.ErrorCode,
) -> None:
    error = (
        sb.HandlerError("OUT_OF_STOCK", "secret: /srv/x")
        if code is sb.ErrorCode.HANDLER
        else error_for(code, "secret: /srv/x")
    )
    app = library_gateway(LibraryClient(Failing(error)))
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/v1/books/b1")
    assert response.status_code == EXPECTED[code]
    assert response.headers["content-type"] == "application/json"
    status = response.json()
    assert isinstance(status["code"], int)
    (info,) = [d for d in status["details"] if d["@type"].endswith("rpc.ErrorInfo")]
    assert info["reason"] == str(code)
    assert info["domain"] == "servicebridge"
    if code in (sb.ErrorCode.INTERNAL, sb.ErrorCode.CONFIG):
        assert "secret" not in response.text
    else:
        assert status["message"] == "secret: /srv/x"  # the error's own message is passed on
    if code is sb.ErrorCode.HANDLER:
        assert info["metadata"] == {"handler_code": "OUT_OF_STOCK"}


@pytest.fixture(params=["in process", "over gRPC"])
async def http(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(tmp_path, remote=request.param == "over gRPC") as served:
        yield served.http


async def test_a_handler_error_is_422_with_its_code(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/fail/HANDLER", params={"handler_code": "CARD_DECLINED"})
    assert response.status_code == 422
    status = response.json()
    assert status["message"] == "refused for a reason"
    assert status["details"][0]["metadata"] == {"handler_code": "CARD_DECLINED"}


async def test_a_crash_is_500_without_its_text(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/fail/CRASH")
    assert response.status_code == 500
    assert response.json()["message"] == "internal error"
    assert "secret" not in response.text and "RuntimeError" not in response.text


async def test_an_unimplemented_method_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/fail/NOT_FOUND")
    assert response.status_code == 404
    assert response.json()["details"][0]["reason"] == "NOT_FOUND"


async def test_the_deadline_header_bounds_the_call_downstream(http: httpx.AsyncClient) -> None:
    # The handler waits for an event nobody sets: only the header's deadline ends the call.
    response = await http.post("/v1/fail/TIMEOUT", headers={sb_http.TIMEOUT_HEADER: "300"})
    assert response.status_code == 504
    assert response.json()["details"][0]["reason"] == "TIMEOUT"


async def test_no_live_instance_is_503(tmp_path: Path) -> None:
    front = sb.Bridge("front", events="memory", data_dir=tmp_path / "f")
    async with front:
        app = library_gateway(front.client(LibraryClient, service="nowhere"))
        async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
            response = await http.get("/v1/books/b1")
    assert response.status_code == 503
    assert response.json()["details"][0]["reason"] == "NO_LIVE_INSTANCE"
