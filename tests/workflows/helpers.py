"""Helpers of the workflow tests: local steps that count their runs, a step's status, a trace as
`sb-trace` shows it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
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


async def sb_trace(spans_file: Path, trace_id: str) -> str:
    """What ``sb-trace`` prints for one trace (wide enough not to cut span names)."""
    shown = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("sb-trace")), str(spans_file), trace_id],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    return shown.stdout
