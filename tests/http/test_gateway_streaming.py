"""Server streaming through the generated gateway: NDJSON by default, server-sent events when
the Accept header asks, a failure before the first message as a status, after it in-band."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .gateway_fixture import Served, served_gateway


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_gateway(tmp_path) as served:
        yield served


async def test_ndjson_one_reply_per_line(gw: Served) -> None:
    response = await gw.http.get("/v1/shelves/s1/books", params={"count": "3"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.text.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": str(n), "shelf": {"id": "s1"}} for n in range(3)
    ]


async def test_server_sent_events_when_accepted(gw: Served) -> None:
    response = await gw.http.get(
        "/v1/shelves/s1/books", params={"count": "2"}, headers={"accept": "text/event-stream"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert events == [f'data: {{"id":"{n}","shelf":{{"id":"s1"}}}}' for n in range(2)]


async def test_a_failure_after_the_first_reply_is_sent_in_band(gw: Served) -> None:
    ndjson = await gw.http.get(
        "/v1/shelves/s1/books", params={"count": "1", "fail_with": "SHELF_FELL"}
    )
    assert ndjson.status_code == 200
    first, last = (json.loads(line) for line in ndjson.text.splitlines())
    assert first == {"id": "0", "shelf": {"id": "s1"}}
    assert last["error"]["message"] == "the shelf fell over"
    assert last["error"]["details"][0]["metadata"] == {"handler_code": "SHELF_FELL"}

    sse = await gw.http.get(
        "/v1/shelves/s1/books",
        params={"count": "1", "fail_with": "SHELF_FELL"},
        headers={"accept": "text/event-stream"},
    )
    error_event = [e for e in sse.text.split("\n\n") if e][-1]
    assert error_event.startswith("event: error\ndata: ")
    assert json.loads(error_event.split("data: ", 1)[1])["error"]["code"] == 2  # UNKNOWN


async def test_a_failure_before_the_first_reply_is_an_http_status(gw: Served) -> None:
    response = await gw.http.get(
        "/v1/shelves/s1/books", params={"count": "0", "fail_with": "SHELF_FELL"}
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["metadata"] == {"handler_code": "SHELF_FELL"}


async def test_an_empty_stream_is_an_empty_body(gw: Served) -> None:
    response = await gw.http.get("/v1/shelves/s1/books", params={"count": "0"})
    assert response.status_code == 200
    assert response.content == b""
