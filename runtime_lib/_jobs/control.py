"""``bridge.jobs``: declare jobs, schedule one-shots, and list, pause, resume, trigger or cancel.

The state behind every call is in the broker, so any instance of the service answers for all:
a job paused on one instance is paused everywhere, a one-shot cancelled on one never fires.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, TypeVar, Unpack

from runtime_lib._errors import ConfigError, StateError
from runtime_lib._events.runtime import EventsRuntime
from runtime_lib._jobs.clock import Clock, SystemClock
from runtime_lib._jobs.leases import LeaseRecord
from runtime_lib._jobs.runner import Job, JobHandler, JobRunner
from runtime_lib._jobs.spec import (
    Catchup,
    CronTrigger,
    DelayedTrigger,
    DepKind,
    Duration,
    IntervalTrigger,
    JobRetry,
    JobSpec,
    Overlap,
    build_spec,
    duration_ms,
    parse_when,
)
from runtime_lib._jobs.store import JobStore, LastResult, OneShot
from runtime_lib._telemetry.api import Telemetry

H = TypeVar("H", bound=JobHandler)


class JobOptions(TypedDict, total=False):
    """The options of a job declaration (``@bridge.job(name, **options)``)."""

    cron: str
    tz: str
    interval: Duration
    catchup: Catchup
    overlap: Overlap
    deps: list[tuple[DepKind, str]]
    max_attempts: int
    lease_ttl: Duration
    max_concurrent: int
    retry: JobRetry
    version: str
    timeout: Duration


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One job as ``bridge.jobs.list()`` shows it."""

    name: str
    identity: str
    trigger: str
    paused: bool
    next_fire: datetime | None  # as this instance computes it
    last_result: LastResult | None  # of any instance
    lag: float | None  # seconds between scheduled and started, last run on this instance


def _describe(spec: JobSpec) -> str:
    trigger = spec.trigger
    if isinstance(trigger, CronTrigger):
        return f"cron {trigger.expr!r} {trigger.tz or 'UTC'}"
    if isinstance(trigger, IntervalTrigger):
        return f"every {trigger.every_ms} ms"
    return "when scheduled"


def _state_error(message: str) -> StateError:
    return StateError(message)


class Jobs:
    def __init__(
        self,
        service: str,
        *,
        telemetry: Telemetry,
        events: EventsRuntime | None = None,
        store: JobStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.service = service
        self._telemetry = telemetry
        self._events = events
        self._store = store
        self._clock: Clock = clock or SystemClock()
        self._jobs: dict[str, Job] = {}
        self._runner: JobRunner | None = None
        self.owner = f"{service}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    # -- declaring -------------------------------------------------------------------------

    def add(self, name: str, handler: JobHandler, **options: Unpack[JobOptions]) -> None:
        """Declare a job: ``handler`` (a coroutine function of :class:`JobContext`, or a target
        from ``call()``/``publish()``) runs at its times; no ``cron``/``interval`` means it runs
        only when scheduled or triggered. Raises ConfigError naming the job and the field."""
        if self._runner is not None:
            raise ConfigError(f"job {name!r}: declare jobs before start()")
        if name in self._jobs:
            raise ConfigError(f"job {name!r}: name: declared twice in service {self.service!r}")
        timeout = options.get("timeout")
        declared: dict[str, Any] = {k: v for k, v in options.items() if k != "timeout"}
        spec = build_spec(name, **declared)
        seconds = None if timeout is None else duration_ms(name, "timeout", timeout) / 1000
        self._jobs[name] = Job(spec, handler, seconds)

    def job(self, name: str, **options: Unpack[JobOptions]) -> Callable[[H], H]:
        """Decorator form of :meth:`add`."""

        def declare(handler: H) -> H:
            self.add(name, handler, **options)
            return handler

        return declare

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None or not self._jobs:
            return
        store = self._store
        if store is None:
            store = self._store = await self._open_store()
        runner = JobRunner(
            self._jobs, store, owner=self.owner, clock=self._clock, telemetry=self._telemetry
        )
        self._runner = runner
        await runner.start()

    async def _open_store(self) -> JobStore:
        if self._events is None:
            return JobStore.in_memory(self.service)
        # The broker the events use: the embedded one, or the configured URL.
        await self._events.ensure_started()
        js = getattr(self._events.bus, "js", None)
        return (
            JobStore.in_memory(self.service)
            if js is None
            else await JobStore.on_nats(self.service, js)
        )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.stop()

    # -- control ---------------------------------------------------------------------------

    def _started(self) -> tuple[JobRunner, JobStore]:
        if self._runner is None or self._store is None:
            raise _state_error(f"jobs of {self.service!r} are not running: start() first")
        return self._runner, self._store

    def _job(self, name: str) -> Job:
        job = self._jobs.get(name)
        if job is None:
            raise ConfigError(f"job {name!r} is not declared in service {self.service!r}")
        return job

    async def list(self) -> list[JobInfo]:
        runner, store = self._started()
        return [
            JobInfo(
                name=name,
                identity=job.spec.identity,
                trigger=_describe(job.spec),
                paused=await store.paused(name),
                next_fire=runner.next_fire.get(name),
                last_result=await store.last_result(name),
                lag=runner.lag.get(name),
            )
            for name, job in self._jobs.items()
        ]

    async def pause(self, name: str) -> None:
        """Stop firing ``name``'s scheduled times on every instance (runs in flight finish)."""
        self._job(name)
        await self._started()[1].set_paused(name, True)

    async def resume(self, name: str) -> None:
        self._job(name)
        await self._started()[1].set_paused(name, False)

    async def trigger(self, name: str, payload: Any = None) -> str:
        """Run ``name`` now, once, out of schedule; return the execution's slot."""
        runner, _ = self._started()
        return await runner.trigger(self._job(name), _json_payload(name, payload))

    async def schedule(self, name: str, *, at: datetime | Duration, payload: Any = None) -> str:
        """Store a one-shot of ``name`` at ``at`` (aware datetime, delay, or ISO-8601 text);
        it fires once on one instance, even if every process restarts meanwhile. Returns its id."""
        job = self._job(name)
        _, store = self._started()
        run_at_ms = parse_when(name, at, self._clock.now())
        once_id = uuid.uuid4().hex
        spec = job.spec
        identity = JobSpec(
            spec.name,
            spec.version,
            DelayedTrigger(run_at_ms),
            spec.catchup,
            spec.overlap,
            spec.deps,
            spec.max_attempts,
            spec.lease_ttl_ms,
            spec.max_concurrent,
            spec.retry,
        ).identity
        await store.add_once(
            OneShot(name, once_id, run_at_ms, _json_payload(name, payload), identity)
        )
        return once_id

    async def cancel(self, name: str, once_id: str) -> bool:
        """Cancel a one-shot; False if it is unknown, already running or done."""
        self._job(name)
        _, store = self._started()
        if await store.get_once(name, once_id) is None:
            return False
        # Settling its lease first is the compare-and-set that no instance can be running it.
        cancelled = LeaseRecord(self.owner, "cancelled", 0, 0)
        if not await store.leases.create_final(store.lease_key(name, f"once-{once_id}"), cancelled):
            return False
        await store.remove_once(name, once_id)
        return True


def _json_payload(job: str, payload: Any) -> Any:
    try:
        return json.loads(json.dumps(payload))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"job {job!r}: payload: must be JSON (dict, list, str, number): {exc}"
        ) from exc
