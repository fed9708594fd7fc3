"""The cron grammar of ServiceBridge (robfig/cron v3, five fields) and wall-clock iteration over it.

Grammar: exactly five whitespace-separated fields (minute hour day-of-month month day-of-week);
each field is a comma list of parts ``(*|?|N|name)[-M][/step]``; ``step > 0``; ``N/step`` means
``N-max/step``; bounds 0-59, 0-23, 1-31, 1-12 (jan..dec), 0-6 (sun..sat); names are
case-insensitive; integers match ``^[+-]?\\d+$`` and are non-negative. No seconds field, no
``@descriptors``, no ``L``/``W``/``#``: SDKs must reject the same strings, so this check is ours
and not a library's.

Matching follows robfig: when day-of-month or day-of-week is a bare ``*``/``?`` (a "star"
field), a day must match both; when both are restricted, either one. Iteration is on the
wall clock of an IANA zone: a wall time skipped by a daylight-saving jump does not fire, and a
wall time that occurs twice fires once, at its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

_INT = re.compile(r"^[+-]?\d+$")
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {name: i for i, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 6, _DAYS),
)

# Search no further than robfig does before deciding an expression never fires (31 February).
_HORIZON_DAYS = 5 * 366


class CronSyntaxError(ValueError):
    """The expression is not in ServiceBridge's cron grammar; the message says where."""


def _integer(text: str, field: _Field) -> int:
    if not _INT.match(text):
        raise CronSyntaxError(f"{field.name}: {text!r} is not a number or a name")
    value = int(text)
    if value < 0:
        raise CronSyntaxError(f"{field.name}: {text!r} is negative")
    return value


def _number(text: str, field: _Field) -> int:
    named = field.names.get(text.lower())
    return named if named is not None else _integer(text, field)


def _part(text: str, field: _Field) -> tuple[frozenset[int], bool]:
    """The values one comma part selects, and whether it is a star (``*``, ``?``, ``*/1``)."""
    range_and_step = text.split("/")
    if len(range_and_step) > 2:
        raise CronSyntaxError(f"{field.name}: {text!r} has more than one '/'")
    low_high = range_and_step[0].split("-")
    if len(low_high) > 2:
        raise CronSyntaxError(f"{field.name}: {text!r} has more than one '-'")
    star = low_high[0] in ("*", "?")
    if star:
        start, end = field.low, field.high
    else:
        start = _number(low_high[0], field)
        end = _number(low_high[1], field) if len(low_high) == 2 else start
    step = 1
    if len(range_and_step) == 2:
        step = _integer(range_and_step[1], field)
        if len(low_high) == 1:
            end = field.high  # "N/step" means "N-max/step"
        if step > 1:
            star = False
    if step == 0:
        raise CronSyntaxError(f"{field.name}: step of {text!r} must be > 0")
    if start < field.low or end > field.high:
        raise CronSyntaxError(f"{field.name}: {text!r} is outside {field.low}-{field.high}")
    if start > end:
        raise CronSyntaxError(f"{field.name}: {text!r} starts after it ends")
    return frozenset(range(start, end + 1, step)), star


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed expression: the values each field selects, and the day-matching rule."""

    expr: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_star: bool

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = day.isoweekday() % 7 in self.weekdays
        return (dom and dow) if self.day_star else (dom or dow)

    def next_after(self, after: datetime, zone: tzinfo = UTC) -> datetime | None:
        """The first fire time strictly after ``after`` (aware), in UTC; None if there is none."""
        after = after.astimezone(UTC)
        day = after.astimezone(zone).date() - timedelta(days=1)  # a fall-back may lie behind
        for _ in range(_HORIZON_DAYS):
            if self._day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        fire = _wall_instant(datetime.combine(day, time(hour, minute)), zone)
                        if fire is not None and fire > after:
                            return fire
            day += timedelta(days=1)
        return None


def _wall_instant(wall: datetime, zone: tzinfo) -> datetime | None:
    """The first instant whose wall clock in ``zone`` reads ``wall``; None inside a DST gap."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def parse_cron(expr: str) -> CronSchedule:
    """Parse ``expr`` or raise :class:`CronSyntaxError` naming the field and the part."""
    fields = expr.split()
    if len(fields) != 5:
        raise CronSyntaxError(
            f"{expr!r} has {len(fields)} fields: expected 5 "
            "(minute hour day-of-month month day-of-week; no seconds, no @descriptors)"
        )
    selected: list[frozenset[int]] = []
    stars: list[bool] = []
    for text, field in zip(fields, _FIELDS, strict=True):
        values: set[int] = set()
        star = False
        for part in text.split(","):
            part_values, part_star = _part(part, field)
            values |= part_values
            star = star or part_star
        selected.append(frozenset(values))
        stars.append(star)
    return CronSchedule(
        expr=expr,
        minutes=tuple(sorted(selected[0])),
        hours=tuple(sorted(selected[1])),
        days=selected[2],
        months=selected[3],
        weekdays=selected[4],
        day_star=stars[2] or stars[4],
    )
