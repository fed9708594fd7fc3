"""Graph validation and JSON paths: plain data, no engine."""

from __future__ import annotations

import pytest

from runtime_lib._errors import ConfigError
from runtime_lib.workflows import Parallel, RunView, Sequence, Sleep, WaitSignal, Workflow


def test_wait_for_must_name_a_step() -> None:
    with pytest.raises(ConfigError, match=r"workflow 'w', step 'b': wait_for names 'nope'"):
        Workflow(
            "w", steps=(Sleep(id="a", seconds=1), Sleep(id="b", seconds=1, wait_for=("nope",)))
        )


def test_cycles_and_duplicate_ids_are_refused() -> None:
    with pytest.raises(ConfigError, match="cycle"):
        Workflow(
            "w",
            steps=(
                Sleep(id="a", seconds=1, wait_for=("b",)),
                Sleep(id="b", seconds=1, wait_for=("a",)),
            ),
        )
    with pytest.raises(ConfigError, match="used twice"):
        Workflow("w", steps=(Sleep(id="a", seconds=1), WaitSignal(id="a", name="x")))
    with pytest.raises(ConfigError, match="lowercase"):
        Workflow("w", steps=(Sleep(id="Bad-Id", seconds=1),))


def test_downstream_is_the_step_and_everything_waiting_for_it() -> None:
    graph = Workflow(
        "w",
        steps=(
            Sleep(id="a", seconds=1),
            Sleep(id="b", seconds=1, wait_for=("a",)),
            Sleep(id="c", seconds=1, wait_for=("a",)),
            Sleep(id="d", seconds=1, wait_for=("b",)),
        ),
    )
    assert graph.downstream("b") == {"b", "d"}
    assert graph.downstream("a") == {"a", "b", "c", "d"}


def nap(step_id: str, *wait_for: str) -> Sleep:
    return Sleep(id=step_id, seconds=1, wait_for=wait_for)


def test_groups_are_checked_like_steps() -> None:
    with pytest.raises(ConfigError, match=r"step 'b': a step inside group 'g' runs when the group"):
        Workflow("w", steps=(nap("a"), Sequence(id="g", steps=(nap("b", "a"),))))
    with pytest.raises(ConfigError, match=r"wait_for names 'b', which is not a top-level step"):
        Workflow("w", steps=(Parallel(id="g", steps=(nap("b"),)), nap("c", "b")))
    with pytest.raises(ConfigError, match=r"workflow 'w', step 'a': the id is used twice"):
        Workflow(
            "w", steps=(nap("a"), Parallel(id="g", steps=(Sequence(id="h", steps=(nap("a"),)),)))
        )
    with pytest.raises(ConfigError, match=r"step 'g': a group needs at least one step"):
        Workflow("w", steps=(Parallel(id="g", steps=()),))


def test_downstream_of_a_step_in_a_group() -> None:
    graph = Workflow(
        "w",
        steps=(
            nap("a"),
            Sequence(
                id="seq",
                steps=(nap("s1"), Parallel(id="par", steps=(nap("p1"), nap("p2"))), nap("s2")),
                wait_for=("a",),
            ),
            nap("after", "seq"),
            nap("other", "a"),
        ),
    )
    # What follows p1 in its sequence, the groups holding it, and what waits for them; not
    # p2 (beside it in a parallel group), s1 (before it) or other.
    assert graph.downstream("p1") == {"p1", "par", "s2", "seq", "after"}
    assert graph.downstream("s2") == {"s2", "seq", "after"}
    assert graph.ids == ["a", "seq", "s1", "par", "p1", "p2", "s2", "after", "other"]


def test_json_paths_read_input_and_outputs() -> None:
    run = RunView("r", {"order": {"id": "o-1"}}, {"reserve": {"id": "r-1"}})
    assert run.path("$.input.order.id") == "o-1"
    assert run.path("$.reserve.id") == "r-1"
    with pytest.raises(KeyError, match=r"JSON path '\$.reserve.nope': no 'nope' here"):
        run.path("$.reserve.nope")
    with pytest.raises(KeyError, match="step 'ship' has no output"):
        run.path("$.ship.id")
    with pytest.raises(ConfigError, match=r"must start with '\$\.'"):
        run.path("reserve.id")
