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


def test_request_ids_from_threads_are_unique() -> None:
    """Ids come from shared pre-drawn randomness: threads drawing at once never share a slice."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [new_request_id() for _ in range(3000)], range(4)))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_repeat_the_parents_request_ids() -> None:
    import os

    new_request_id()  # the parent now holds unused pre-drawn randomness
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next ids and leave without running the test runner's exit
        os.write(write, " ".join(new_request_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as child:
        child_ids = set(child.read().split())
    os.waitpid(pid, 0)
    parent_ids = {new_request_id() for _ in range(3)}
    assert len(child_ids) == 3
    assert not child_ids & parent_ids
