"""A server-streaming reply over HTTP: newline-delimited JSON (``application/x-ndjson``, the
default) or server-sent events (``text/event-stream``, when the request's Accept asks for it).

A failure after the first message cannot change the status line any more: it is sent in-band,
as a last ``{"error": Status}`` line or an ``event: error``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import runtime_lib as sb

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


def media_type(accept: str) -> str:
    return SSE if SSE in accept else NDJSON


async def encode(
    first: Any,
    rest: AsyncIterator[Any],
    to_json: Callable[[Any], Any],
    error_json: Callable[[sb.ServiceBridgeError], Any],
    media: str,
) -> AsyncIterator[bytes]:
    """``first`` (already received, so the status line could still report a failure before
    it) and the rest of the stream, framed for ``media``."""
    yield _frame(to_json(first), media, "")
    try:
        async for item in rest:
            yield _frame(to_json(item), media, "")
    except sb.ServiceBridgeError as exc:
        yield _frame({"error": error_json(exc)}, media, "error")


def _frame(document: Any, media: str, event: str) -> bytes:
    text = json.dumps(document, separators=(",", ":"))
    if media == SSE:
        return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()
    return text.encode() + b"\n"
