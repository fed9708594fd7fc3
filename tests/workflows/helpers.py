"""Helpers of the workflow tests: local steps that count their runs, a step's status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import runtime_lib as sb
from runtime_lib.workflows import Local, RunView

Bridges = Callable[..., Awaitable[sb.Bridge]]


def counting(effects: Counter[str], name: str, output: Any = None, **options: Any) -> Local:
    """A local step ``name`` that counts its runs in ``effects`` and returns ``output``."""

    async def fn(run: RunView) -> Any:
        effects[name] += 1
        return output

    return Local(id=name, fn=fn, **options)


async def step_state(bridge: sb.Bridge, run_id: str, step: str) -> str:
    return (await bridge.workflows.query(run_id)).steps.get(step, "")
