"""A job's definition: trigger, policies and limits, checked at registration; its canonical identity.

Every check raises :class:`ConfigError` naming the job and the field, so a bad declaration fails
when the service starts, not at 3 a.m. when the job is due.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runtime_lib._errors import ConfigError
from runtime_lib._jobs.canonical import Canonical, sha256_hex, stringify
from runtime_lib._jobs.cron import CronSchedule, CronSyntaxError, parse_cron

Catchup = Literal["skip", "fire_once", "fire_all"]
Overlap = Literal["skip", "allow", "buffer_one"]
DepKind = Literal["rpc", "event", "workflow"]
Duration = float | int | str | timedelta
"""Seconds, a ``timedelta``, or text such as ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_LEASE_TTL_MS = 30_000


@dataclass(frozen=True, slots=True)
class JobRetry:
    """Backoff between attempts of one execution: ``initial`` then times ``multiplier`` up to ``max``,
    each delay moved by up to plus or minus ``jitter`` of itself. Durations as for ``interval``."""

    initial: Duration = "1s"
    max: Duration = "1m"
    multiplier: float = 2.0
    jitter: float = 0.2


@dataclass(frozen=True, slots=True)
class CronTrigger:
    expr: str
    tz: str | None
    schedule: CronSchedule = field(compare=False)
    zone: tzinfo = field(compare=False)


@dataclass(frozen=True, slots=True)
class IntervalTrigger:
    every_ms: int


@dataclass(frozen=True, slots=True)
class DelayedTrigger:
    run_at_ms: int


Trigger = CronTrigger | IntervalTrigger | DelayedTrigger


@dataclass(frozen=True, slots=True)
class RetrySpec:
    initial_ms: int | float
    max_ms: int | float
    multiplier: int | float
    jitter: int | float


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job's definition. ``None`` limits mean the runtime default and are not in the identity;
    an explicit ``0`` is written (ServiceBridge's rule) and also means the default."""

    name: str
    version: str
    trigger: Trigger | None  # None: runs only when scheduled (bridge.jobs.schedule) or triggered
    catchup: Catchup | None = None
    overlap: Overlap | None = None
    deps: tuple[tuple[DepKind, str], ...] = ()
    max_attempts: int | None = None
    lease_ttl_ms: int | None = None
    max_concurrent: int | None = None
    retry: RetrySpec | None = None

    # -- effective values ------------------------------------------------------------------

    @property
    def effective_catchup(self) -> Catchup:
        return self.catchup or "skip"

    @property
    def effective_overlap(self) -> Overlap:
        return self.overlap or "allow"

    @property
    def attempts(self) -> int:
        return self.max_attempts or DEFAULT_MAX_ATTEMPTS

    @property
    def lease_ttl(self) -> float:
        return (self.lease_ttl_ms or DEFAULT_LEASE_TTL_MS) / 1000

    @property
    def concurrency(self) -> int | None:
        """Executions at once on one instance; None: no limit (overlap decides)."""
        return self.max_concurrent or None

    @property
    def backoff(self) -> RetrySpec:
        return self.retry or RetrySpec(1000, 60_000, 2, 0.2)

    # -- identity --------------------------------------------------------------------------

    def canonical(self) -> str:
        """ServiceBridge's canonical JSON of this definition (fixed key order)."""
        doc: dict[str, Canonical] = {"version": self.version}
        trigger = self.trigger
        if isinstance(trigger, CronTrigger):
            cron: dict[str, Canonical] = {"expr": trigger.expr}
            if trigger.tz is not None:
                cron["tz"] = trigger.tz
            doc["trigger"] = {"cron": cron}
        elif isinstance(trigger, IntervalTrigger):
            doc["trigger"] = {"interval": {"everyMs": trigger.every_ms}}
        elif isinstance(trigger, DelayedTrigger):
            doc["trigger"] = {"delayed": {"runAtUnixMs": trigger.run_at_ms}}
        else:
            doc["trigger"] = {}
        if self.catchup is not None:
            doc["catchup"] = self.catchup
        if self.overlap is not None:
            doc["overlap"] = self.overlap
        if self.deps:
            doc["deps"] = [{"kind": kind, "target": target} for kind, target in self.deps]
        if self.max_attempts is not None:
            doc["maxAttempts"] = self.max_attempts
        if self.lease_ttl_ms is not None:
            doc["leaseTtlMs"] = self.lease_ttl_ms
        if self.max_concurrent is not None:
            doc["maxConcurrent"] = self.max_concurrent
        if self.retry is not None:
            doc["retry"] = {
                "initial_ms": self.retry.initial_ms,
                "max_ms": self.retry.max_ms,
                "multiplier": self.retry.multiplier,
                "jitter": self.retry.jitter,
            }
        return stringify(doc)

    @property
    def identity(self) -> str:
        """Lowercase hex sha256 of :meth:`canonical`: any change of definition changes it."""
        return sha256_hex(self.canonical())

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` (UTC), None for one-shot-only jobs."""
        trigger = self.trigger
        if isinstance(trigger, CronTrigger):
            return trigger.schedule.next_after(after, trigger.zone)
        if isinstance(trigger, IntervalTrigger):
            # Anchored at the epoch, so every instance computes the same fire times.
            after_ms = int(after.timestamp() * 1000)
            fire_ms = (after_ms // trigger.every_ms + 1) * trigger.every_ms
            return datetime.fromtimestamp(fire_ms / 1000, UTC)
        if isinstance(trigger, DelayedTrigger):
            at = datetime.fromtimestamp(trigger.run_at_ms / 1000, UTC)
            return at if at > after else None
        return None

    def zone(self) -> tzinfo:
        return self.trigger.zone if isinstance(self.trigger, CronTrigger) else UTC


# -- building and checking -------------------------------------------------------------------


def _fail(job: str, what: str, problem: str) -> ConfigError:
    return ConfigError(f"job {job!r}: {what}: {problem}")


def duration_ms(job: str, what: str, value: object) -> int | float:
    """Milliseconds of a :data:`Duration`, or a ConfigError naming the job and the field."""
    if isinstance(value, bool):
        raise _fail(job, what, f"{value!r} is not a duration")
    if isinstance(value, timedelta):
        ms: float = value.total_seconds() * 1000
    elif isinstance(value, int | float):
        ms = value * 1000
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise _fail(job, what, f"{value!r}: expected seconds or a number with ms, s, m or h")
        ms = float(match.group(1)) * _UNIT_MS[match.group(2)]
    else:
        raise _fail(job, what, f"{value!r} is not a duration")
    if ms <= 0:
        raise _fail(job, what, f"{value!r} must be positive")
    return int(ms) if float(ms).is_integer() else ms


def _whole_ms(job: str, what: str, value: object) -> int:
    ms = duration_ms(job, what, value)
    if not float(ms).is_integer():
        raise _fail(job, what, f"{value!r} is not a whole number of milliseconds")
    return int(ms)


def _limit(job: str, what: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(job, what, f"{value!r}: expected a whole number >= 0")
    return value


def _choice(job: str, what: str, value: object, allowed: tuple[str, ...]) -> Any:
    if value is None:
        return None
    if value not in allowed:
        raise _fail(job, what, f"{value!r}: expected one of {', '.join(allowed)}")
    return value


def _zone(job: str, tz: object) -> tzinfo:
    if tz is None:
        return UTC
    if not isinstance(tz, str) or not tz:
        raise _fail(job, "tz", f"{tz!r}: expected an IANA zone name such as 'Europe/Berlin'")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _fail(
            job, "tz", f"{tz!r} is not an IANA zone name (such as 'Europe/Berlin')"
        ) from exc


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_retry(job: str, retry: RetrySpec) -> RetrySpec:
    for what, ms in (("retry.initial", retry.initial_ms), ("retry.max", retry.max_ms)):
        if not _number(ms) or ms <= 0:
            raise _fail(job, what, f"{ms!r} ms: expected a duration > 0")
    if retry.max_ms < retry.initial_ms:
        raise _fail(job, "retry.max", f"{retry.max_ms} ms is below retry.initial")
    if not _number(retry.multiplier) or retry.multiplier < 1:
        raise _fail(job, "retry.multiplier", f"{retry.multiplier!r}: expected a number >= 1")
    if not _number(retry.jitter) or not 0 <= retry.jitter <= 1:
        raise _fail(job, "retry.jitter", f"{retry.jitter!r}: expected a number from 0 to 1")
    return retry


def _retry(job: str, retry: JobRetry | None) -> RetrySpec | None:
    if retry is None:
        return None
    return _check_retry(
        job,
        RetrySpec(
            duration_ms(job, "retry.initial", retry.initial),
            duration_ms(job, "retry.max", retry.max),
            retry.multiplier,
            retry.jitter,
        ),
    )


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"job name {name!r}: expected letters, digits, '_', '-' and '.' (not first)"
        )
    return name


def build_spec(
    name: str,
    *,
    cron: str | None = None,
    tz: str | None = None,
    interval: Duration | None = None,
    catchup: Catchup | None = None,
    overlap: Overlap | None = None,
    deps: Sequence[tuple[DepKind, str]] = (),
    max_attempts: int | None = None,
    lease_ttl: Duration | None = None,
    max_concurrent: int | None = None,
    retry: JobRetry | None = None,
    version: str = "v1",
) -> JobSpec:
    """Check every field of a declaration; the first problem raises a ConfigError naming it."""
    name = check_name(name)
    if cron is not None and interval is not None:
        raise _fail(name, "trigger", "give cron= or interval=, not both")
    if tz is not None and cron is None:
        raise _fail(name, "tz", "a time zone applies to cron= only")
    trigger: Trigger | None = None
    if cron is not None:
        if not isinstance(cron, str):
            raise _fail(name, "cron", f"{cron!r} is not a string")
        try:
            schedule = parse_cron(cron)
        except CronSyntaxError as exc:
            raise _fail(name, "cron", str(exc)) from exc
        trigger = CronTrigger(cron, tz, schedule, _zone(name, tz))
    elif interval is not None:
        trigger = IntervalTrigger(_whole_ms(name, "interval", interval))
    if not isinstance(version, str) or not version:
        raise _fail(name, "version", f"{version!r}: expected a non-empty string")
    checked_deps: list[tuple[DepKind, str]] = []
    for kind, target in deps:
        _choice(name, "deps", kind, get_args(DepKind))
        if not isinstance(target, str) or not target:
            raise _fail(name, "deps", f"{kind} target {target!r}: expected a non-empty name")
        checked_deps.append((kind, target))
    return JobSpec(
        name=name,
        version=version,
        trigger=trigger,
        catchup=_choice(name, "catchup", catchup, get_args(Catchup)),
        overlap=_choice(name, "overlap", overlap, get_args(Overlap)),
        deps=tuple(checked_deps),
        max_attempts=_limit(name, "max_attempts", max_attempts),
        lease_ttl_ms=None if lease_ttl is None else _whole_ms(name, "lease_ttl", lease_ttl),
        max_concurrent=_limit(name, "max_concurrent", max_concurrent),
        retry=_retry(name, retry),
    )


def spec_from_opts(name: str, opts: Mapping[str, Any]) -> JobSpec:
    """A spec from ServiceBridge's ``JobOpts`` shape (``{"trigger": {"cron": ..., "tz": ...}}``,
    ``{"interval": ms}``, ``{"delayed": {"at": ms}}``; ``maxAttempts``, ``leaseTtlMs``, ...),
    as a definition shared with Node or Go services is written."""
    known = {"version", "trigger", "catchup", "overlap", "deps"} | {
        "maxAttempts",
        "leaseTtlMs",
        "maxConcurrent",
        "retry",
    }
    unknown = sorted(set(opts) - known)
    if unknown:
        raise _fail(name, unknown[0], "not a JobOpts field")
    trigger = opts.get("trigger")
    if not isinstance(trigger, Mapping) or len({"cron", "interval", "delayed"} & set(trigger)) != 1:
        raise _fail(name, "trigger", "expected exactly one of cron, interval, delayed")
    deps: list[tuple[DepKind, str]] = []
    for dep in opts.get("deps") or ():
        if not isinstance(dep, Mapping) or len(dep) != 1:
            raise _fail(name, "deps", f"{dep!r}: expected one of {{rpc}}, {{event}}, {{workflow}}")
        ((kind, target),) = dep.items()
        deps.append((kind, target))
    retry_opts = opts.get("retry")
    retry = None
    if retry_opts is not None:
        if not isinstance(retry_opts, Mapping):
            raise _fail(name, "retry", f"{retry_opts!r}: expected an object")
        # The numbers stay exactly as given: they are written into the identity.
        retry = _check_retry(
            name,
            RetrySpec(
                retry_opts.get("initialMs", 0),
                retry_opts.get("maxMs", 0),
                retry_opts.get("multiplier", 0),
                retry_opts.get("jitter", 0),
            ),
        )
    lease = _limit(name, "leaseTtlMs", opts.get("leaseTtlMs"))
    spec = build_spec(
        name,
        cron=trigger.get("cron"),
        tz=trigger.get("tz"),
        interval=None if "interval" not in trigger else _interval_ms(name, trigger["interval"]),
        catchup=opts.get("catchup"),
        overlap=opts.get("overlap"),
        deps=deps,
        max_attempts=opts.get("maxAttempts"),
        max_concurrent=opts.get("maxConcurrent"),
        version=opts.get("version", "v1"),
    )
    delayed: Trigger | None = None
    if "delayed" in trigger:
        at = trigger["delayed"].get("at") if isinstance(trigger["delayed"], Mapping) else None
        delayed = DelayedTrigger(parse_when(name, at))
    return JobSpec(
        name=spec.name,
        version=spec.version,
        trigger=delayed or spec.trigger,
        catchup=spec.catchup,
        overlap=spec.overlap,
        deps=spec.deps,
        max_attempts=spec.max_attempts,
        lease_ttl_ms=lease,
        max_concurrent=spec.max_concurrent,
        retry=retry,
    )


def _interval_ms(name: str, value: object) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(name, "trigger.interval", f"{value!r}: expected milliseconds > 0")
    return timedelta(milliseconds=value)


def parse_when(job: str, at: object, now: datetime | None = None) -> int:
    """Unix ms of a one-shot's time: an aware ``datetime``, a delay (``timedelta``/``"5m"``),
    an ISO-8601 string with an offset, or Unix milliseconds."""
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise _fail(job, "at", f"{at!r} has no time zone: use an aware datetime")
        return int(at.timestamp() * 1000)
    if isinstance(at, int) and not isinstance(at, bool):
        return at
    if isinstance(at, str):
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None:
            return parse_when(job, when)
    base = now or datetime.now(UTC)
    if isinstance(at, timedelta | str):
        delay = duration_ms(job, "at", at)
        return int(base.timestamp() * 1000 + delay)
    raise _fail(job, "at", f"{at!r}: expected a datetime, a delay or an ISO-8601 string")
