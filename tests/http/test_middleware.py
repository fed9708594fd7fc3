"""The ASGI middleware on a real uvicorn server, called with httpx: one trace from an HTTP
request through a generated client's RPC to the handler of the event it publishes (real gRPC,
a real nats-server), the request deadline inherited downstream, HTTP semconv attributes and
metrics, typed clients for route code, and the app's routes in the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import runtime_lib as sb
import runtime_lib.http as sb_http
from tests._generated.http_library.library_gateway import library_gateway
from tests._generated.http_library.library_pb2 import CheckOutRequest
from tests._generated.http_library.library_sb import BookCheckedOut, LibraryClient, LoansClient
from tests.events.helpers import wait_until

from .library_service import Library, Loans
from .serving import serving

MEMORY = sb.TelemetryConfig(exporter="memory")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"

LoansDep = Annotated[LoansClient, Depends(sb_http.client(LoansClient, service="loans"))]


def front_app(bridge: sb.Bridge, **middleware: Any) -> FastAPI:
    """A user's FastAPI front: one route that checks a book out through the Loans service."""
    app = FastAPI()
    app.add_middleware(sb_http.BridgeMiddleware, bridge=bridge, **middleware)

    @app.post("/loans/{name}")
    async def check_out(name: str, reader: str, loans: LoansDep) -> dict[str, Any]:
        reply = await loans.check_out(CheckOutRequest(name=name, reader=reader))
        return {"loan": reply.loan_id, "remaining": reply.remaining_seconds}

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def _one(spans: list[ReadableSpan], kind: str, name: str) -> ReadableSpan:
    found = [s for s in spans if s.kind.name == kind and s.name == name]
    assert len(found) == 1, [(s.kind.name, s.name) for s in spans]
    return found[0]


def _ids(span: ReadableSpan) -> tuple[int, int | None]:
    assert span.context is not None
    return span.context.span_id, span.parent.span_id if span.parent is not None else None


async def test_one_trace_from_http_through_rpc_to_the_event_handler(
    nats_url: str, tmp_path: Path
) -> None:
    received: list[BookCheckedOut] = []

    async def on_checked_out(event: BookCheckedOut, ctx: sb.EventContext) -> None:
        received.append(event)

    readers = sb.Bridge("readers", events=nats_url, data_dir=tmp_path / "r", telemetry=MEMORY)
    readers.subscribe(BookCheckedOut, on_checked_out)
    loans = sb.Bridge("loans", events=nats_url, data_dir=tmp_path / "l", telemetry=MEMORY)
    loans.serve(Loans(loans))
    async with readers, loans:
        front = sb.Bridge(
            "front",
            registry={"loans": [loans.address]},
            events="memory",
            data_dir=tmp_path / "f",
            telemetry=MEMORY,
        )
        async with front, serving(front_app(front)) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                response = await http.post(
                    "/loans/dune",
                    params={"reader": "ada"},
                    headers={"traceparent": TRACEPARENT, sb_http.TIMEOUT_HEADER: "1500"},
                )
            assert response.status_code == 200, response.text
            reply = response.json()
            assert reply["loan"] == "loan-dune"
            # The handler two hops away saw the header's deadline, not the call's own 30 s.
            assert 0 < reply["remaining"] <= 1.5
            await wait_until(lambda: received != [], what="the event handler")
            consumed = readers.telemetry.memory
            await wait_until(
                lambda: any(s.kind.name == "CONSUMER" for s in consumed.spans()),
                what="the delivery span",
            )
            metrics = front.telemetry.memory.metrics()

    assert received == [BookCheckedOut(name="dune", reader="ada")]
    spans = [s for b in (front, loans, readers) for s in b.telemetry.memory.spans()]
    assert {format(s.context.trace_id, "032x") for s in spans if s.context} == {TRACE_ID}

    http_span = _one(spans, "SERVER", "POST /loans/{name}")
    client = _one(spans, "CLIENT", "library.v1.Loans/CheckOut")
    server = _one(spans, "SERVER", "library.v1.Loans/CheckOut")
    publish = _one(spans, "PRODUCER", "publish book.checked_out")
    deliver = [s for s in spans if s.kind.name == "CONSUMER"]
    assert _ids(http_span)[1] == int(PARENT_ID, 16)  # joined the incoming traceparent
    assert _ids(client)[1] == _ids(http_span)[0]
    assert _ids(server)[1] == _ids(client)[0]
    assert _ids(publish)[1] == _ids(server)[0]
    assert len(deliver) == 1

    attributes = dict(http_span.attributes or {})
    assert attributes["http.request.method"] == "POST"
    assert attributes["http.route"] == "/loans/{name}"
    assert attributes["http.response.status_code"] == 200
    assert attributes["url.path"] == "/loans/dune"
    assert attributes["url.scheme"] == "http"
    assert attributes["server.address"] == "127.0.0.1"
    durations = metrics["http.server.request.duration"]
    assert [(a["http.route"], a["http.response.status_code"]) for a, _ in durations] == [
        ("/loans/{name}", 200)
    ]
    assert "http.server.active_requests" in metrics


async def test_gateway_requests_are_spans_named_by_their_binding(tmp_path: Path) -> None:
    library = sb.Bridge("library", events="memory", data_dir=tmp_path / "l", telemetry=MEMORY)
    library.serve(Library())
    async with library:
        client = library.client(LibraryClient, service="library")
        app = sb_http.BridgeMiddleware(library_gateway(client), bridge=library)
        async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
            response = await http.get(
                "/v1/shelves/s1/books/b2", headers={"traceparent": TRACEPARENT}
            )
            assert response.status_code == 200
    spans = list(library.telemetry.memory.spans())
    http_span = _one(spans, "SERVER", "GET /v1/{name=shelves/*/books/*}")
    assert (http_span.attributes or {})["http.route"] == "/v1/{name=shelves/*/books/*}"
    assert _ids(http_span)[1] == int(PARENT_ID, 16)
    assert _ids(_one(spans, "CLIENT", "library.v1.Library/GetBook"))[1] == _ids(http_span)[0]


async def test_default_deadline_and_a_malformed_deadline_header(tmp_path: Path) -> None:
    loans = sb.Bridge("loans", events="memory", data_dir=tmp_path / "l")
    loans.serve(Loans(loans))
    async with loans:
        front = sb.Bridge("front", registry={"loans": [loans.address]}, events="memory")
        app = front_app(front, default_timeout="20s")
        async with front, serving(app) as url, httpx.AsyncClient(base_url=url) as http:
            plain = await http.post("/loans/dune", params={"reader": "ada"})
            assert plain.status_code == 200, plain.text
            assert 0 < plain.json()["remaining"] <= 20  # the middleware's default, not 30 s

            bad = await http.post(
                "/loans/dune", params={"reader": "ada"}, headers={sb_http.TIMEOUT_HEADER: "2s"}
            )
    assert bad.status_code == 400
    status = bad.json()
    assert status["code"] == 3  # INVALID_ARGUMENT
    assert sb_http.TIMEOUT_HEADER in status["message"]
    violations = [d for d in status["details"] if d["@type"].endswith("BadRequest")]
    assert violations[0]["fieldViolations"][0]["field"] == sb_http.TIMEOUT_HEADER


async def test_starlette_route_reaches_a_typed_client(tmp_path: Path) -> None:
    loans = sb.Bridge("loans", events="memory", data_dir=tmp_path / "l")
    loans.serve(Loans(loans))

    async def check_out(request: Request) -> JSONResponse:
        client = sb_http.client_for(request, LoansClient, service="loans")
        assert client is sb_http.client_for(request, LoansClient, service="loans")
        reply = await client.check_out(CheckOutRequest(name=request.path_params["name"]))
        return JSONResponse({"loan": reply.loan_id})

    async with loans:
        front = sb.Bridge("front", registry={"loans": [loans.address]}, events="memory")
        app = sb_http.BridgeMiddleware(
            Starlette(routes=[Route("/loans/{name}", check_out, methods=["POST"])]), bridge=front
        )
        async with front, serving(app) as url, httpx.AsyncClient(base_url=url) as http:
            response = await http.post("/loans/dune")
    assert response.json() == {"loan": "loan-dune"}


async def test_routes_are_published_beside_rpc_methods(nats_url: str, tmp_path: Path) -> None:
    front = sb.Bridge(
        "front", registry=sb.NatsKvRegistry(nats_url), events="memory", data_dir=tmp_path / "f"
    )
    front.serve(Loans(front))
    app = front_app(front)
    observer = sb.Bridge("observer", registry=sb.NatsKvRegistry(nats_url), events="memory")
    async with observer, serving(app) as url:
        assert sb_http.publish_app_routes(front, app, url) == ["POST /loans/{name}"]
        async with front:
            await wait_until(lambda: bool(observer.registry.instances("front")))
            (instance,) = observer.registry.instances("front")
            grpc_address = front.address
    assert instance.methods is not None
    assert instance.methods["POST /loans/{name}"] == url
    assert "/library.v1.Loans/CheckOut" in instance.methods  # the RPC method beside it
    assert instance.address == grpc_address  # where its RPCs are served


def test_route_names_of_mounted_apps() -> None:
    async def nothing(request: Request) -> JSONResponse:
        return JSONResponse({})

    app = Starlette(
        routes=[
            Route("/items/{id}", nothing, methods=["GET", "PUT"]),
            Mount("/api", routes=[Route("/v1/things", nothing, methods=["POST"])]),
        ]
    )
    assert sb_http.route_names(app.routes) == [
        "GET /items/{id}",
        "POST /api/v1/things",
        "PUT /items/{id}",
    ]


def test_a_route_written_as_a_path_is_refused() -> None:
    bridge = sb.Bridge("front", events="memory")
    with pytest.raises(sb.ConfigError, match="METHOD /path"):
        bridge.publish_routes({"/loans": "http://x"})
