"""The generated gateway's transcoding, rule by rule from ``google/api/http.proto``'s
documentation, on a real uvicorn with httpx; the handler runs behind the typed client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .gateway_fixture import Served, served_gateway


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_gateway(tmp_path) as served:
        yield served


async def _ok(gw: Served, method: str, path: str, **kwargs: Any) -> Any:
    response = await gw.http.request(method, path, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def test_multi_segment_path_variable_and_a_bool_query_parameter(gw: Served) -> None:
    book = await _ok(gw, "GET", "/v1/shelves/s1/books/b2", params={"with_reviews": "true"})
    # Canonical JSON: lowerCamelCase, int64 as a string, enums by name, defaults left out.
    assert book == {
        "name": "shelves/s1/books/b2",
        "title": "title of shelves/s1/books/b2 (reviewed)",
        "genre": "POETRY",
        "pages": "12345678901",
    }


async def test_additional_binding_and_percent_decoding(gw: Served) -> None:
    book = await _ok(gw, "GET", "/v1/books/a%2Fb%20c")
    assert book["name"] == "a/b c"  # a single-segment variable is fully decoded
    # A multi-segment one keeps %2F, so a slash in a value stays distinguishable.
    book = await _ok(gw, "GET", "/v1/shelves/s%2F1/books/b")
    assert book["name"] == "shelves/s%2F1/books/b"


async def test_nested_path_fields_a_body_field_and_the_query_for_the_rest(gw: Served) -> None:
    book = await _ok(
        gw,
        "PATCH",
        "/v1/shelves/s1/books/b7",
        params={"update_mask": "title,genre"},
        json={"title": "Dune", "genre": "FICTION", "tags": ["sf"], "in_print": True},
    )
    assert book == {
        "name": "shelves/s1/books/b7 mask=title,genre",
        "id": "b7",
        "shelf": {"id": "s1"},
        "title": "Dune",
        "genre": "FICTION",
        "tags": ["sf"],
        "inPrint": True,
    }


async def test_path_variables_win_over_the_body(gw: Served) -> None:
    book = await _ok(gw, "PATCH", "/v1/shelves/s1/books/b7", json={"id": "other"})
    assert book["id"] == "b7"


async def test_the_whole_request_as_the_body(gw: Served) -> None:
    shelf = await _ok(gw, "POST", "/v1/shelves", json={"id": "s9", "theme": "sf"})
    assert shelf == {"id": "s9", "theme": "sf"}


async def test_query_parameters_repeated_enum_by_name_or_number_nested(gw: Served) -> None:
    query = [
        ("tags", "a"),
        ("tags", "b"),
        ("genres", "FICTION"),
        ("genres", "2"),
        ("filter.min_pages", "100"),
        ("filter.genre", "POETRY"),
        ("inPrint", "true"),  # the JSON name works as well as the proto name
        ("limit", "5"),
    ]
    reply = await _ok(gw, "GET", "/v1/shelves/s1/books:search", params=query)
    assert reply == {
        "echo": {
            "shelf": "s1",
            "tags": ["a", "b"],
            "genres": ["FICTION", "POETRY"],
            "filter": {"minPages": 100, "genre": "POETRY"},
            "inPrint": True,
            "limit": "5",
        }
    }


async def test_custom_verb_and_response_body(gw: Served) -> None:
    archived = await _ok(gw, "POST", "/v1/shelves/s1:archive", json={"reason": "old"})
    assert archived == ["s1", "old"]  # only the reply's `archived` field


async def test_delete_and_a_custom_method(gw: Served) -> None:
    deleted = await _ok(gw, "DELETE", "/v1/shelves/s1/books/b1")
    purged = await _ok(gw, "PURGE", "/v1/shelves/s1/books/b1")
    assert deleted == purged == {"id": "b1", "shelf": {"id": "s1"}}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("PATCH", "/v1/shelves/s1/books/b7", {"json": {"nope": 1}}, "book.nope"),
        ("PATCH", "/v1/shelves/s1/books/b7", {"json": {"title": 5}}, "book.title"),
        ("PATCH", "/v1/shelves/s1/books/b7", {"json": {"shelf": {"id": 3}}}, "book.shelf.id"),
        ("PATCH", "/v1/shelves/s1/books/b7", {"json": {"genre": "EPIC"}}, "book.genre"),
        ("PATCH", "/v1/shelves/s1/books/b7", {"content": b"{not json"}, "body"),
        ("PATCH", "/v1/shelves/s1/books/b7", {"json": ["a"]}, "body"),
        ("POST", "/v1/shelves", {"json": {"id": "s"}, "params": {"theme": "x"}}, "theme"),
        ("GET", "/v1/shelves/s1/books:search", {"params": {"nope": "1"}}, "nope"),
        ("GET", "/v1/shelves/s1/books:search", {"params": {"limit": "ten"}}, "limit"),
        ("GET", "/v1/shelves/s1/books:search", {"params": {"genres": "EPIC"}}, "genres"),
        ("GET", "/v1/shelves/s1/books:search", {"params": {"in_print": "yes"}}, "in_print"),
        ("GET", "/v1/shelves/s1/books:search", {"params": {"filter": "x"}}, "filter"),
        ("GET", "/v1/shelves/s1/books:search", {"params": {"shelf": "s2"}}, "shelf"),
        ("GET", "/v1/books/", {}, "name"),
        ("DELETE", "/v1/shelves//books/b1", {}, "shelf"),
    ],
)
async def test_bad_requests_get_400_naming_the_field_and_never_reach_the_handler(
    gw: Served, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    response = await gw.http.request(method, path, **kwargs)
    assert response.status_code == 400, response.text
    status = response.json()
    assert status["code"] == 3  # google.rpc.Code.INVALID_ARGUMENT
    assert field in status["message"]
    (bad_request,) = [d for d in status["details"] if d["@type"].endswith("rpc.BadRequest")]
    assert bad_request["fieldViolations"][0]["field"] == field
    assert "Traceback" not in response.text and "int()" not in response.text
    assert gw.handler.calls == []


async def test_unknown_route_and_wrong_method(gw: Served) -> None:
    missing = await gw.http.get("/v2/anything")
    assert missing.status_code == 404
    assert missing.json()["code"] == 5  # NOT_FOUND
    wrong = await gw.http.put("/v1/shelves")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert gw.handler.calls == []
