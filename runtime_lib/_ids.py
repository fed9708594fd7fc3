"""The ids the runtime mints on hot paths, and their one text encoding.

Event ids are UUIDv7 (time-ordered, so an outbox and a log sort by them); request ids are
UUIDv4. Both are formatted here by hand: ``uuid.UUID(int=...)`` and its ``str()`` cost more than
the rest of a publish, and ``str(uuid.uuid4())`` about a twentieth of a whole unary call.
"""

from __future__ import annotations

import binascii
import os
import threading
import time


def _canonical(h: str) -> str:
    """32 hex digits in the 8-4-4-4-12 form ``str(uuid.UUID(...))`` gives."""
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Request ids are made 1024 at a time, with no Python per id: the bytes drawn at once, their
# version and variant bits set by translate() on every 16th byte, hex digits copied into a
# template of dashes by strided slices, and the ids cut by one split(). A call then costs a
# list pop (atomic, so no lock between threads); per id, each slice, format or os.urandom call
# costs as much as that pop.
_BATCH = 1024
_ID = b"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx "
_ID_TEMPLATE = _ID * _BATCH
# (place in _ID, place among an id's 32 hex digits) of each digit
_DIGITS = [(at, n) for n, at in enumerate(i for i, c in enumerate(_ID) if c == ord("x"))]
_VERSION_4 = bytes(b & 0x0F | 0x40 for b in range(256))  # byte 6: 0100xxxx
_VARIANT_RFC = bytes(b & 0x3F | 0x80 for b in range(256))  # byte 8: 10xxxxxx
_request_ids: list[str] = []


def _request_id_batch() -> list[str]:
    raw = bytearray(os.urandom(16 * _BATCH))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_RFC)
    digits = binascii.hexlify(raw)
    text = bytearray(_ID_TEMPLATE)
    for at, n in _DIGITS:
        text[at :: len(_ID)] = digits[n::32]
    return text.decode().split()


def new_request_id() -> str:
    """A random UUID (version 4) in its canonical string form, as ``str(uuid.uuid4())`` gives,
    from the same source (``os.urandom``)."""
    while True:
        try:
            return _request_ids.pop()
        except IndexError:
            _request_ids.extend(_request_id_batch())


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
    global _random_at
    # A child must not reuse the parent's unused randomness.
    _random_at = _RANDOM_CHUNK
    _request_ids.clear()


os.register_at_fork(after_in_child=_reseed_after_fork)
