"""``google.protobuf.Timestamp`` <-> aware ``datetime`` for generated dataclasses.

The same values as ``Timestamp.ToDatetime(tzinfo=UTC)`` and ``Timestamp.FromDatetime``, for about
a third of their cost: those go through ``astimezone`` and ``calendar.timegm(utctimetuple())``,
which every event decode and encode with a timestamp field paid.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
# Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799


def timestamp_datetime(ts: Timestamp) -> datetime:
    """``ts`` as a UTC datetime (nanoseconds truncated to microseconds); a timestamp out of
    range raises protobuf's own ValueError."""
    seconds, nanos = ts.seconds, ts.nanos
    if _MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000:
        return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    return ts.ToDatetime(tzinfo=UTC)


def fill_timestamp(ts: Timestamp, value: datetime) -> None:
    """Set ``ts`` to ``value`` (a naive datetime counts as UTC, as protobuf takes it)."""
    delta = value - (_EPOCH if value.tzinfo is not None else _EPOCH_NAIVE)
    ts.seconds = delta.days * 86_400 + delta.seconds
    ts.nanos = delta.microseconds * 1000
