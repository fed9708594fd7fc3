"""runtime_lib._ids: the hand-formatted UUIDs are the ones the uuid module would print."""

from __future__ import annotations

import uuid

from runtime_lib._ids import new_event_id, new_request_id


def test_request_ids_are_canonical_uuid4() -> None:
    ids = [new_request_id() for _ in range(2000)]
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
    assert len(set(ids)) == len(ids)


def test_event_ids_are_canonical_uuid7() -> None:
    for text in (new_event_id() for _ in range(2000)):
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, text)
