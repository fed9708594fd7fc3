"""The ids the runtime mints on hot paths, and their one text encoding.

Event ids are UUIDv7 (time-ordered, so an outbox and a log sort by them); request ids are
UUIDv4. Both are formatted here by hand: ``uuid.UUID(int=...)`` and its ``str()`` cost more than
the rest of a publish.
"""

from __future__ import annotations

import os
import threading
import time

# Hex digit -> RFC 9562 variant digit (10xx): the 17th hex digit of a UUID is 8, 9, a or b.
_VARIANT = {f"{n:x}": "89ab"[n & 3] for n in range(16)}


def _canonical(h: str) -> str:
    """32 hex digits in the 8-4-4-4-12 form ``str(uuid.UUID(...))`` gives."""
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Request ids: randomness drawn and hex-encoded in bulk (one os.urandom call per 256 ids), so an
# id costs a slice and a format; the syscall and the per-id hex() were most of its cost.
_REQUEST_HEX = 32 * 256
_request_lock = threading.Lock()
_request_hex = ""
_request_at = _REQUEST_HEX


def new_request_id() -> str:
    """A random UUID (version 4) in its canonical string form, as ``str(uuid.uuid4())`` gives,
    from the same source (``os.urandom``)."""
    global _request_hex, _request_at
    with _request_lock:
        at = _request_at
        if at >= _REQUEST_HEX:
            _request_hex, at = os.urandom(_REQUEST_HEX // 2).hex(), 0
        _request_at = at + 32
        h = _request_hex[at : at + 32]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_uuid_lock = threading.Lock()
_last_ms = 0
_counter = 0
# Randomness drawn in bulk: one os.urandom call per 512 ids. Per id, the syscall released the
# GIL and, with the outbox writer thread waiting for it, cost ~14 us to get it back.
_RANDOM_CHUNK = 8 * 512
_random = b""
_random_at = _RANDOM_CHUNK


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): 48-bit unix ms, then a 12-bit counter so ids from one process sort."""
    global _last_ms, _counter, _random, _random_at
    with _uuid_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = 0
        counter = _counter
        if _random_at >= _RANDOM_CHUNK:
            _random, _random_at = os.urandom(_RANDOM_CHUNK), 0
        at = _random_at
        _random_at = at + 8
        rand = int.from_bytes(_random[at : at + 8], "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
    return _canonical(f"{value:032x}")


def _reseed_after_fork() -> None:
    global _random_at, _request_at
    # A child must not reuse the parent's unused randomness.
    _random_at = _RANDOM_CHUNK
    _request_at = _REQUEST_HEX


os.register_at_fork(after_in_child=_reseed_after_fork)
