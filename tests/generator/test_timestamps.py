"""Generated dataclasses convert Timestamps with runtime_lib's helpers: the same values as
protobuf's ``ToDatetime(tzinfo=UTC)`` / ``FromDatetime``, the same error out of range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from runtime_lib.codegen import fill_timestamp, timestamp_datetime

DATETIMES = [
    datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # before the epoch, with microseconds
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, 0, 500, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(1900, 6, 1, tzinfo=timezone(-timedelta(hours=8))),
    datetime(2026, 11, 26, 12, 0, 0, 7),  # naive: protobuf takes it as UTC
    datetime(1, 1, 1),
]


@pytest.mark.parametrize("value", DATETIMES, ids=str)
def test_fill_timestamp_matches_protobuf(value: datetime) -> None:
    ours, theirs = Timestamp(), Timestamp()
    fill_timestamp(ours, value)
    theirs.FromDatetime(value)
    assert (ours.seconds, ours.nanos) == (theirs.seconds, theirs.nanos)


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (0, 0),
        (1_764_158_400, 123_456_789),  # nanoseconds truncate to microseconds
        (-1, 999_999_999),
        (-62_135_596_800, 0),
        (253_402_300_799, 999_999_999),
    ],
)
def test_timestamp_datetime_matches_protobuf(seconds: int, nanos: int) -> None:
    ts = Timestamp(seconds=seconds, nanos=nanos)
    ours, theirs = timestamp_datetime(ts), ts.ToDatetime(tzinfo=UTC)
    assert ours == theirs
    assert ours.tzinfo is UTC and repr(ours) == repr(theirs)


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(-62_135_596_801, 0), (253_402_300_800, 0), (0, -1), (0, 1_000_000_000)],
)
def test_timestamp_out_of_range_raises_like_protobuf(seconds: int, nanos: int) -> None:
    ts = Timestamp(seconds=seconds, nanos=nanos)
    with pytest.raises(ValueError) as theirs:
        ts.ToDatetime(tzinfo=UTC)
    with pytest.raises(ValueError) as ours:
        timestamp_datetime(ts)
    assert str(ours.value) == str(theirs.value)
