"""Graph validation and JSON paths: plain data, no engine."""

from __future__ import annotations

import pytest

from runtime_lib._errors import ConfigError
from runtime_lib.workflows import RunView, Sleep, WaitSignal, Workflow


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
