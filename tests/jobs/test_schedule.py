"""Schedule decisions on explicit times: cron across daylight-saving jumps in Europe/Berlin,
catchup and overlap policies, retry backoff."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from runtime_lib._jobs.schedule import (
    MAX_CATCHUP,
    catchup_fires,
    fire_times_between,
    overlap_action,
    retry_delay,
)
from runtime_lib._jobs.spec import RetrySpec, build_spec

BERLIN = ZoneInfo("Europe/Berlin")


def _berlin(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=BERLIN).astimezone(UTC)


def test_spring_forward_skips_the_wall_time_that_does_not_exist() -> None:
    # 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST; 02:30 never happens that day.
    spec = build_spec("j", cron="30 2 * * *", tz="Europe/Berlin")
    fires = fire_times_between(spec, _berlin(2026, 3, 27, 12), _berlin(2026, 3, 31, 12))
    assert [f.astimezone(BERLIN).date().day for f in fires] == [28, 30, 31]
    assert fires[1] == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 CEST is 00:30 UTC


def test_fall_back_fires_a_repeated_wall_time_once_at_its_first_occurrence() -> None:
    # 2026-10-25: Berlin goes from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    spec = build_spec("j", cron="30 2 * * *", tz="Europe/Berlin")
    fires = fire_times_between(spec, _berlin(2026, 10, 24, 12), _berlin(2026, 10, 26, 12))
    assert fires == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
    ]


def test_sub_hourly_cron_pauses_during_the_repeated_hour() -> None:
    spec = build_spec("j", cron="*/30 * * * *", tz="Europe/Berlin")
    start = datetime(2026, 10, 24, 23, 15, tzinfo=UTC)  # 01:15 CEST
    fires = fire_times_between(spec, start, start + timedelta(hours=4))
    local = [(f.astimezone(BERLIN).strftime("%H:%M %Z")) for f in fires]
    assert local == [
        "01:30 CEST",
        "02:00 CEST",
        "02:30 CEST",
        "03:00 CET",  # 02:00 and 02:30 CET are wall times already fired
        "03:30 CET",
        "04:00 CET",
    ]


def test_cron_without_zone_is_utc_and_interval_ignores_daylight_saving() -> None:
    daily = build_spec("j", cron="0 3 * * *")
    assert daily.next_fire(datetime(2026, 3, 29, tzinfo=UTC)) == datetime(
        2026, 3, 29, 3, tzinfo=UTC
    )
    every = build_spec("j", interval="1h")
    fires = fire_times_between(every, _berlin(2026, 3, 29, 0), _berlin(2026, 3, 29, 5))
    assert [b - a for a, b in itertools.pairwise(fires)] == [timedelta(hours=1)] * 3


def test_interval_fire_times_are_anchored_so_every_instance_agrees() -> None:
    spec = build_spec("j", interval="30s")
    after = datetime(2026, 1, 1, 12, 0, 7, 123_000, tzinfo=UTC)
    assert spec.next_fire(after) == datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    assert spec.next_fire(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)) == datetime(
        2026, 1, 1, 12, 1, tzinfo=UTC
    )


def test_catchup_policies() -> None:
    missed = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(3)]
    assert catchup_fires("skip", missed) == []
    assert catchup_fires("fire_once", missed) == missed[-1:]
    assert catchup_fires("fire_all", missed) == missed
    assert catchup_fires("fire_once", []) == []


def test_missed_fire_times_are_capped_to_the_most_recent() -> None:
    spec = build_spec("j", interval="1s")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fires = fire_times_between(spec, start, start + timedelta(days=1))
    assert len(fires) == MAX_CATCHUP
    assert fires[-1] == start + timedelta(days=1)


@pytest.mark.parametrize(
    ("policy", "in_flight", "action"),
    [
        ("allow", "running", "run"),
        ("allow", None, "run"),
        ("skip", "running", "skip"),
        ("skip", "buffered", "skip"),
        ("skip", None, "run"),
        ("buffer_one", "running", "buffer"),
        ("buffer_one", "buffered", "skip"),
        ("buffer_one", None, "run"),
    ],
)
def test_overlap_policies(policy: str, in_flight: str | None, action: str) -> None:
    assert overlap_action(policy, in_flight) == action  # type: ignore[arg-type]


def test_retry_delay_grows_to_its_cap_within_jitter() -> None:
    retry = RetrySpec(initial_ms=100, max_ms=1000, multiplier=2, jitter=0.1)
    rng = random.Random(7)
    for attempt, base in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (9, 1000)]:
        delay = retry_delay(retry, attempt, rng).total_seconds() * 1000
        assert base * 0.9 <= delay <= base * 1.1
