"""The cron grammar: every reference vector, the forms a library would accept and SB rejects, and
robfig's matching rules (N/step, star fields, the day-of-month/day-of-week OR)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from runtime_lib._jobs.cron import CronSyntaxError, parse_cron
from tests.jobs.vectors import vectors


@pytest.mark.parametrize("vector", vectors("cron-vectors.json"), ids=lambda v: repr(v["expr"]))
def test_reference_vector(vector: dict[str, Any]) -> None:
    if vector["valid"]:
        parse_cron(vector["expr"])
    else:
        with pytest.raises(CronSyntaxError):
            parse_cron(vector["expr"])


@pytest.mark.parametrize(
    "expr",
    [
        "@daily",
        "@every 5m",
        "0 0 L * *",
        "0 0 15W * *",
        "0 0 * * 1#2",
        "0 0 * * 5L",
        "0 0 * * 7",  # croniter and Vixie cron take 7 as Sunday; SB does not
        "0 0 * * sun-7",
        "0 0 3 * * * *",
        "0 0 * * * 2026",
        "0,,5 * * * *",
        "H * * * *",
        "*/ * * * *",
        "0 0 * * MONDAY",
    ],
)
def test_rejects_what_servicebridge_rejects(expr: str) -> None:
    with pytest.raises(CronSyntaxError):
        parse_cron(expr)


def test_error_names_the_field() -> None:
    with pytest.raises(CronSyntaxError, match="hour"):
        parse_cron("0 24 * * *")
    with pytest.raises(CronSyntaxError, match="6 fields: expected 5"):
        parse_cron("0 0 0 * * *")


def test_signed_integers_and_names_are_accepted() -> None:
    schedule = parse_cron("+5 +0 * Jan-MAR SUN,sat")
    assert schedule.minutes == (5,)
    assert schedule.hours == (0,)
    assert schedule.months == {1, 2, 3}
    assert schedule.weekdays == {0, 6}


def test_value_and_step_means_value_to_max() -> None:
    assert parse_cron("5/15 * * * *").minutes == (5, 20, 35, 50)
    assert parse_cron("0-30/10 * * * *").minutes == (0, 10, 20, 30)


def _next(expr: str, after: datetime) -> datetime | None:
    return parse_cron(expr).next_after(after)


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # The 13th or any Friday: from Wed 2026-01-07 the next is Fri 9th, then Tue 13th.
    assert _next("0 0 13 * fri", datetime(2026, 1, 7, tzinfo=UTC)) == datetime(
        2026, 1, 9, tzinfo=UTC
    )
    assert _next("0 0 13 * fri", datetime(2026, 1, 9, tzinfo=UTC)) == datetime(
        2026, 1, 13, tzinfo=UTC
    )


def test_star_day_field_means_and() -> None:
    # '?' is a star: only the weekday restricts; '*/1' keeps the star, '*/2' does not.
    assert _next("0 0 ? * fri", datetime(2026, 1, 7, tzinfo=UTC)) == datetime(
        2026, 1, 9, tzinfo=UTC
    )
    assert _next("0 0 */1 * fri", datetime(2026, 1, 7, tzinfo=UTC)) == datetime(
        2026, 1, 9, tzinfo=UTC
    )
    # */2 restricts day-of-month to odd days: OR with Friday; Thu 8th is not odd, Fri 9th is.
    assert _next("0 0 */2 * fri", datetime(2026, 1, 7, 1, tzinfo=UTC)) == datetime(
        2026, 1, 9, tzinfo=UTC
    )


def test_month_end_and_leap_day() -> None:
    assert _next("0 0 31 * *", datetime(2026, 4, 1, tzinfo=UTC)) == datetime(
        2026, 5, 31, tzinfo=UTC
    )
    assert _next("0 12 29 2 *", datetime(2026, 1, 1, tzinfo=UTC)) == datetime(
        2028, 2, 29, 12, tzinfo=UTC
    )


def test_an_expression_that_never_fires_has_no_next_time() -> None:
    assert _next("0 0 30 2 *", datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_next_is_strictly_after() -> None:
    at = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    assert _next("0 3 * * *", at) == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    assert _next("* * * * *", at.replace(second=30)) == datetime(2026, 1, 1, 3, 1, tzinfo=UTC)
