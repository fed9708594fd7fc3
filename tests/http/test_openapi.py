"""The gateway's OpenAPI 3.1 document: served at /openapi.json, valid by
openapi-spec-validator, and describing each binding as the gateway transcodes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from .gateway_fixture import PAGE_ORIGIN, served_gateway


async def test_openapi_document_is_served_and_valid(tmp_path: Path) -> None:
    async with served_gateway(tmp_path) as gw:
        response = await gw.http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    assert set(paths) == {
        "/v1/{name}",
        "/v1/books/{name}",
        "/v1/shelves/{book.shelf.id}/books/{book.id}",
        "/v1/shelves",
        "/v1/shelves/{shelf}/books:search",
        "/v1/shelves/{shelf}:archive",
        "/v1/shelves/{shelf}/books/{id}",
        "/v1/shelves/{shelf}/books",
        "/v1/fail/{code}",
    }
    assert set(paths["/v1/shelves/{shelf}/books/{id}"]) == {"delete", "x-custom-methods"}
    assert set(paths["/v1/shelves/{shelf}/books/{id}"]["x-custom-methods"]) == {"PURGE"}
    search = paths["/v1/shelves/{shelf}/books:search"]["get"]
    query = {p["name"]: p["schema"] for p in search["parameters"] if p["in"] == "query"}
    assert query["tags"] == {"type": "array", "items": {"type": "string"}}
    assert query["filter.min_pages"] == {"type": "integer", "format": "int32"}
    assert query["genres"]["items"]["enum"] == ["GENRE_UNSPECIFIED", "FICTION", "POETRY"]
    update = paths["/v1/shelves/{book.shelf.id}/books/{book.id}"]["patch"]
    body = update["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/library.v1.Book"}
    assert [p["name"] for p in update["parameters"] if p["in"] == "query"] == ["update_mask"]
    book = document["components"]["schemas"]["library.v1.Book"]["properties"]
    assert book["inPrint"] == {"type": "boolean"}
    assert book["published"] == {"type": "string", "format": "date-time"}
    stream = paths["/v1/shelves/{shelf}/books"]["get"]["responses"]["200"]["content"]
    assert set(stream) == {"application/x-ndjson", "text/event-stream"}
    assert "requestBody" not in paths["/v1/shelves/{shelf}/books"]["get"]


async def test_cors_preflight_and_response_headers(tmp_path: Path) -> None:
    async with served_gateway(tmp_path) as gw:
        preflight = await gw.http.options(
            "/v1/shelves",
            headers={
                "origin": PAGE_ORIGIN,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        simple = await gw.http.get("/v1/books/b1", headers={"origin": PAGE_ORIGIN})
        other = await gw.http.get("/v1/books/b1", headers={"origin": "http://evil.test"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PAGE_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert simple.headers["access-control-allow-origin"] == PAGE_ORIGIN
    assert "access-control-allow-origin" not in other.headers
