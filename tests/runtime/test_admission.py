"""Admission's own slot counting: a free slot is taken without waiting, queued calls get slots in
arrival order, a queued call that is cancelled never keeps or loses one, and drain waits for all;
and the open-call count a drain waits on."""

from __future__ import annotations

import asyncio

import pytest

import runtime_lib as sb
from runtime_lib._errors import ConnectionFailedError, OverloadedError
from runtime_lib._rpc.admission import Admission
from runtime_lib._rpc.open_calls import OpenCalls

pytestmark = pytest.mark.timeout(10)


def _admission(running: int, queued: int) -> Admission:
    return Admission(sb.AdmissionLimits(max_concurrent=running, max_queued=queued))


async def _queued(admission: Admission, count: int) -> list[asyncio.Task[None]]:
    """``count`` calls waiting in the queue, in this order."""
    tasks = []
    for _ in range(count):
        tasks.append(asyncio.create_task(admission.queue()))
        await asyncio.sleep(0)  # each reaches its place in the queue before the next starts
    assert not any(t.done() for t in tasks)
    return tasks


async def test_a_free_slot_is_taken_at_once_and_a_full_queue_refuses() -> None:
    admission = _admission(running=2, queued=1)
    assert admission.enter_now() and admission.enter_now()
    assert not admission.enter_now()
    [waiting] = await _queued(admission, 1)
    with pytest.raises(OverloadedError) as refused:
        await admission.queue()
    assert refused.value.not_dispatched
    assert admission.active == 3
    admission.leave()
    await waiting  # the slot passed to the queued call
    assert admission.active == 2


async def test_queued_calls_get_slots_in_arrival_order() -> None:
    admission = _admission(running=1, queued=3)
    assert admission.enter_now()
    first, second, third = await _queued(admission, 3)
    admission.leave()
    await first
    assert not second.done() and not third.done()
    admission.leave()
    await second
    assert not third.done()
    # A call arriving now queues behind the third, though a slot is about to free.
    assert not admission.enter_now()


async def test_a_cancelled_queued_call_leaves_its_place_and_takes_no_slot() -> None:
    admission = _admission(running=1, queued=2)
    assert admission.enter_now()
    gone, kept = await _queued(admission, 2)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert admission.active == 2
    admission.leave()
    await kept
    admission.leave()
    assert admission.active == 0 and admission.enter_now()


async def test_a_call_cancelled_as_it_is_handed_a_slot_passes_the_slot_on() -> None:
    admission = _admission(running=1, queued=2)
    assert admission.enter_now()
    handed, next_in_line = await _queued(admission, 2)
    admission.leave()  # the slot is handed to the first; it has not resumed yet
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await next_in_line
    assert admission.active == 1


async def test_drain_refuses_new_calls_and_waits_for_admitted_ones() -> None:
    admission = _admission(running=1, queued=1)
    assert await admission.wait_idle(0.01)  # nothing admitted: idle at once
    assert admission.enter_now()
    [waiting] = await _queued(admission, 1)
    admission.drain()
    with pytest.raises(ConnectionFailedError) as refused:
        admission.enter_now()
    assert refused.value.not_dispatched
    idle = asyncio.create_task(admission.wait_idle(5.0))
    admission.leave()
    await waiting
    assert not idle.done()
    admission.leave()
    assert await idle


async def test_wait_idle_gives_up_after_its_time() -> None:
    admission = _admission(running=1, queued=0)
    assert admission.enter_now()
    assert not await admission.wait_idle(0.01)
    admission.leave()
    assert await admission.wait_idle(0.01)


async def test_open_calls_wait_until_the_last_one_closed_or_time_is_up() -> None:
    calls = OpenCalls()
    await calls.wait_closed(0.0)  # none open: at once
    calls.opened()
    calls.opened()
    waiting = asyncio.create_task(calls.wait_closed(5.0))
    calls.closed()
    await asyncio.sleep(0)
    assert not waiting.done()
    calls.closed("the grpc context a done callback is passed")
    await waiting
    calls.opened()
    await calls.wait_closed(0.01)  # gives up; the call stays counted
    calls.closed()
