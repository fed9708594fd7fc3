"""The runner on a manual clock and memory buckets: exactly-once across instances, catchup
after downtime, overlap policies, retries, takeover of a dead holder, lost leases, control."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from runtime_lib._errors import ConfigError
from runtime_lib._jobs import JobContext, JobRetry, Jobs
from runtime_lib._jobs.leases import LeaseRecord
from tests.jobs.helpers import START, Cluster, until


class Recorder:
    def __init__(self) -> None:
        self.runs: list[JobContext] = []
        self.release = asyncio.Event()
        self.block = False
        self.failures = 0

    async def __call__(self, ctx: JobContext) -> None:
        self.runs.append(ctx)
        if self.block:
            await self.release.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("boom")

    def slots(self) -> list[str]:
        return [ctx.idempotency_key.split(":", 1)[1] for ctx in self.runs]


def _ms(seconds: float) -> str:
    return str(int((START + timedelta(seconds=seconds)).timestamp() * 1000))


def _ms_of(jobs: Jobs, name: str) -> str | None:
    """The slot this instance waits to fire next (None before it computed one)."""
    runner = jobs._runner
    fire = None if runner is None else runner.next_fire.get(name)
    return None if fire is None else str(int(fire.timestamp() * 1000))


async def test_three_instances_fire_each_tick_once() -> None:
    cluster = Cluster()
    recorder = Recorder()
    instances = [cluster.instance() for _ in range(3)]
    for jobs in instances:
        jobs.add("tick", recorder, interval="1s")
        await jobs.start()
    try:
        await until(lambda: cluster.clock.sleepers == 6)  # each: its tick and its watchdog
        for second in range(1, 21):
            cluster.clock.advance(1)
            await until(lambda s=second: len(recorder.runs) >= s)  # type: ignore[misc]
        assert Counter(recorder.slots()) == Counter(_ms(s) for s in range(1, 21))
        assert {ctx.attempt for ctx in recorder.runs} == {1}
    finally:
        for jobs in instances:
            await jobs.stop()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("skip", []), ("fire_once", [5]), ("fire_all", [2, 3, 4, 5])],
)
async def test_catchup_after_downtime(policy: str, expected: list[int]) -> None:
    cluster = Cluster()
    recorder = Recorder()
    first = cluster.instance()
    first.add("tick", recorder, interval="1s", catchup=policy)  # type: ignore[arg-type]
    await first.start()
    await until(lambda: cluster.clock.sleepers == 2)
    cluster.clock.advance(1)
    await until(lambda: len(recorder.runs) == 1)
    await first.stop()

    cluster.clock.advance(4.5)  # 2 s .. 5 s pass with no instance running
    second = cluster.instance()
    second.add("tick", recorder, interval="1s", catchup=policy)  # type: ignore[arg-type]
    await second.start()
    try:
        await until(lambda: _ms(6) == _ms_of(second, "tick"))
        cluster.clock.advance(1)  # 6 s: on time
        await until(lambda: _ms(6) in recorder.slots())
        await until(lambda: len(recorder.runs) == 2 + len(expected))
        assert sorted(recorder.slots()) == sorted([_ms(1), _ms(6)] + [_ms(s) for s in expected])
    finally:
        await second.stop()


async def test_a_changed_definition_does_not_catch_up_the_old_one() -> None:
    cluster = Cluster()
    recorder = Recorder()
    first = cluster.instance()
    first.add("tick", recorder, interval="1s", catchup="fire_all")
    await first.start()
    await until(lambda: cluster.clock.sleepers == 2)
    cluster.clock.advance(1)
    await until(lambda: len(recorder.runs) == 1)
    await first.stop()
    cluster.clock.advance(3)
    second = cluster.instance()
    second.add("tick", recorder, interval="1s", catchup="fire_all", version="v2")
    await second.start()
    try:
        await until(lambda: _ms(5) == _ms_of(second, "tick"))
        cluster.clock.advance(1)
        await until(lambda: len(recorder.runs) == 2)
        assert recorder.slots() == [_ms(1), _ms(5)]
    finally:
        await second.stop()


async def _overlap_run(policy: str) -> tuple[Recorder, Cluster, list[str]]:
    cluster = Cluster()
    recorder = Recorder()
    recorder.block = True
    jobs = cluster.instance()
    jobs.add("slow", recorder, interval="1s", overlap=policy, max_concurrent=5)  # type: ignore[arg-type]
    await jobs.start()
    store = jobs._store
    assert store is not None
    try:
        await until(lambda: cluster.clock.sleepers == 2)
        cluster.clock.advance(1)
        await until(lambda: len(recorder.runs) == 1)
        states: list[str] = []
        for second in (2, 3):
            cluster.clock.advance(1)
            key = store.lease_key("slow", _ms(second))
            if policy == "allow":
                await until(lambda n=second: len(recorder.runs) == n)  # type: ignore[misc]
                continue

            async def settled(key: str = key) -> bool:
                record = await store.leases.read(key)
                return record is not None and record.state != "running"

            await until(settled)
            record = await store.leases.read(key)
            assert record is not None
            states.append(record.state)
        recorder.release.set()
        if policy == "buffer_one":
            first = store.lease_key("slow", _ms(1))

            async def first_done() -> bool:
                record = await store.leases.read(first)
                return record is not None and record.state == "done"

            await until(first_done)
            cluster.clock.advance(1)  # the buffered run looks again each second
            await until(lambda: len(recorder.runs) >= 2)
        return recorder, cluster, states
    finally:
        await jobs.stop()


async def test_overlap_skip() -> None:
    recorder, _, states = await _overlap_run("skip")
    assert states == ["skipped", "skipped"]
    assert recorder.slots() == [_ms(1)]


async def test_overlap_allow() -> None:
    recorder, _, _ = await _overlap_run("allow")
    assert recorder.slots() == [_ms(1), _ms(2), _ms(3)]


async def test_overlap_buffer_one() -> None:
    recorder, _, states = await _overlap_run("buffer_one")
    # 2 s waits behind 1 s; 3 s finds one already waiting and is dropped.
    assert states == ["buffered", "skipped"]
    assert recorder.slots()[:2] == [_ms(1), _ms(2)]


async def test_failed_attempts_are_retried_with_the_same_idempotency_key() -> None:
    cluster = Cluster()
    recorder = Recorder()
    recorder.failures = 2
    jobs = cluster.instance()
    jobs.add("flaky", recorder, interval="1h", max_attempts=3, retry=JobRetry("1s", "1s", 1, 0))
    await jobs.start()
    try:
        await until(lambda: cluster.clock.sleepers == 2)
        cluster.clock.advance(3600)
        for attempt in (2, 3):
            # Asleep: the next tick, the watchdog, the lease heartbeat and the retry wait.
            await until(lambda: cluster.clock.sleepers == 4)
            cluster.clock.advance(1)
            await until(lambda a=attempt: len(recorder.runs) == a)  # type: ignore[misc]
        assert [ctx.attempt for ctx in recorder.runs] == [1, 2, 3]
        assert len({ctx.idempotency_key for ctx in recorder.runs}) == 1
        info = (await jobs.list())[0]
        await until(lambda: True)
        assert info.name == "flaky"
    finally:
        await jobs.stop()
    result = await jobs._store.last_result("flaky")  # type: ignore[union-attr]
    assert result is not None and result.ok and result.attempts == 3


async def test_last_attempt_failing_records_a_failure_without_its_text() -> None:
    cluster = Cluster()
    recorder = Recorder()
    recorder.failures = 1
    jobs = cluster.instance()
    jobs.add("once", recorder, interval="1h", max_attempts=1)
    await jobs.start()
    try:
        await until(lambda: cluster.clock.sleepers == 2)
        cluster.clock.advance(3600)
        store = jobs._store
        assert store is not None

        async def recorded() -> bool:
            return await store.last_result("once") is not None

        await until(recorded)
        result = await store.last_result("once")
        assert result is not None
        assert not result.ok and result.error == "RuntimeError" and result.attempts == 1
    finally:
        await jobs.stop()


async def test_a_dead_holder_is_replaced_after_the_lease_ttl() -> None:
    cluster = Cluster()
    recorder = Recorder()
    recorder.block = True
    holder, standby = cluster.instance(), cluster.instance()
    for jobs in (holder, standby):
        jobs.add("work", recorder, interval="1h", lease_ttl="10s")
        await jobs.start()
    try:
        await until(lambda: cluster.clock.sleepers == 4)
        cluster.clock.advance(3600)
        await until(lambda: len(recorder.runs) == 1)
        # Let the stand-by instance see the slot taken, then the holder dies without a word.
        await until(lambda: len(standby._runner._standby) == 1)  # type: ignore[union-attr]
        runner = holder._runner
        assert runner is not None
        for task in list(runner._tasks):
            task.cancel()
        holder._runner = None
        recorder.block = False
        await until(lambda: cluster.clock.sleepers == 2)  # stand-by: its next tick, its watchdog
        cluster.clock.advance(11)  # past the 10 s lease: the watchdog takes the slot over
        await until(lambda: len(recorder.runs) == 2)
        assert recorder.runs[1].attempt == 2
        assert recorder.runs[1].idempotency_key == recorder.runs[0].idempotency_key
    finally:
        recorder.release.set()
        await standby.stop()


async def test_a_run_whose_lease_was_taken_over_is_told() -> None:
    cluster = Cluster()
    recorder = Recorder()
    recorder.block = True
    jobs = cluster.instance()
    jobs.add("work", recorder, interval="1h", lease_ttl="9s")
    await jobs.start()
    try:
        await until(lambda: cluster.clock.sleepers == 2)
        cluster.clock.advance(3600)
        await until(lambda: len(recorder.runs) == 1)
        store = jobs._store
        assert store is not None
        key = store.lease_key("work", _ms(3600))
        other = LeaseRecord("someone-else", "running", 2, 0)
        await cluster.leases.put(key, other.encode())  # another instance took it over
        await until(lambda: cluster.clock.sleepers == 3)  # tick, watchdog, heartbeat
        cluster.clock.advance(3)  # the next renewal fails its compare-and-set
        await until(lambda: recorder.runs[0].cancelled)
        assert recorder.runs[0].lease_lost
    finally:
        await jobs.stop()


async def test_pause_resume_and_trigger() -> None:
    cluster = Cluster()
    recorder = Recorder()
    jobs, other = cluster.instance(), cluster.instance()
    for instance in (jobs, other):
        instance.add("tick", recorder, interval="1s")
        await instance.start()
    try:
        await until(lambda: cluster.clock.sleepers == 4)
        await jobs.pause("tick")
        cluster.clock.advance(1)
        slot = await other.trigger("tick", payload={"why": "manual"})
        await until(lambda: len(recorder.runs) == 1)
        assert recorder.slots() == [slot]  # the paused tick did not fire, on either instance
        assert recorder.runs[0].payload == {"why": "manual"}
        assert (await other.list())[0].paused
        await other.resume("tick")
        cluster.clock.advance(1)
        await until(lambda: len(recorder.runs) == 2)
        assert recorder.slots()[1] == _ms(2)
    finally:
        for instance in (jobs, other):
            await instance.stop()


async def test_fire_times_passed_over_while_paused_are_not_caught_up() -> None:
    cluster = Cluster()
    recorder = Recorder()
    first = cluster.instance()
    first.add("tick", recorder, interval="1s", catchup="fire_all")
    await first.start()
    await until(lambda: cluster.clock.sleepers == 2)
    await first.pause("tick")
    cluster.clock.advance(3)
    store = first._store
    assert store is not None

    async def passed_over() -> bool:
        mark = await store.mark("tick")
        return mark is not None and mark.last_ms == int(_ms(3))

    await until(passed_over)
    await first.stop()
    second = cluster.instance()
    second.add("tick", recorder, interval="1s", catchup="fire_all")
    await second.start()
    try:
        await second.resume("tick")
        await until(lambda: _ms(4) == _ms_of(second, "tick"))
        cluster.clock.advance(1)
        await until(lambda: len(recorder.runs) == 1)
        assert recorder.slots() == [_ms(4)]
    finally:
        await second.stop()


async def test_one_shot_survives_a_restart_and_fires_once() -> None:
    cluster = Cluster()
    recorder = Recorder()
    first = cluster.instance()
    first.add("remind", recorder)
    await first.start()
    once_id = await first.schedule("remind", at="30s", payload={"user": "u-1"})
    await first.stop()
    cluster.clock.advance(60)  # due while nothing runs
    instances = [cluster.instance() for _ in range(3)]
    for jobs in instances:
        jobs.add("remind", recorder)
        await jobs.start()
    try:
        await until(lambda: len(recorder.runs) == 1)
        assert recorder.runs[0].payload == {"user": "u-1"}
        assert recorder.runs[0].scheduled_at == START + timedelta(seconds=30)
        store = instances[0]._store
        assert store is not None
        await until(lambda: not any(".once." in key for key in cluster.state._data))
        assert await store.get_once("remind", once_id) is None
        assert len(recorder.runs) == 1
    finally:
        for jobs in instances:
            await jobs.stop()


async def test_cancel_a_one_shot() -> None:
    cluster = Cluster()
    recorder = Recorder()
    jobs = cluster.instance()
    jobs.add("remind", recorder)
    await jobs.start()
    try:
        once_id = await jobs.schedule("remind", at=START + timedelta(minutes=5))
        assert await jobs.cancel("remind", once_id)
        assert not await jobs.cancel("remind", once_id)
        keep = await jobs.schedule("remind", at=timedelta(minutes=6))
        cluster.clock.advance(600)
        await until(lambda: len(recorder.runs) == 1)
        assert recorder.slots() == [f"once-{keep}"]
        assert not await jobs.cancel("remind", keep)  # done: too late
    finally:
        await jobs.stop()


async def test_an_attempt_past_its_timeout_is_cancelled_and_fails() -> None:
    cluster = Cluster()
    recorder = Recorder()
    recorder.block = True  # never released: only the timeout ends the attempt
    jobs = cluster.instance()
    jobs.add("stuck", recorder, max_attempts=1, timeout="50ms")
    await jobs.start()
    store = jobs._store
    assert store is not None
    try:
        await jobs.trigger("stuck")

        async def recorded() -> bool:
            return await store.last_result("stuck") is not None

        await until(recorded)
        result = await store.last_result("stuck")
        assert result is not None and not result.ok and result.error == "TimeoutError"
        [ctx] = recorder.runs
        assert ctx.cancelled and not ctx.lease_lost
        assert ctx.deadline == START + timedelta(milliseconds=50)
    finally:
        await jobs.stop()


async def test_declaration_errors() -> None:
    jobs = Cluster().instance()
    jobs.add("tick", Recorder(), interval="1s")
    with pytest.raises(ConfigError, match="job 'tick': name: declared twice"):
        jobs.add("tick", Recorder(), interval="2s")
    with pytest.raises(ConfigError, match="job 'x': timeout"):
        jobs.add("x", Recorder(), interval="2s", timeout="never")
    with pytest.raises(ConfigError, match="job 'remind': at"):
        jobs.add("remind", Recorder())
        await jobs.start()
        await jobs.schedule("remind", at="whenever")
    with pytest.raises(ConfigError, match="job 'remind': payload"):
        await jobs.schedule("remind", at="1s", payload=object())
    with pytest.raises(ConfigError, match="not declared"):
        await jobs.trigger("nope")
    await jobs.stop()
