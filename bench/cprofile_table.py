"""cProfile results as markdown tables, per operation."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from pathlib import Path

from bench.report import fmt


def _where(file: str, line: int, name: str) -> str:
    if not line:
        return name
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else file
    return f"{short}:{line}({name})"


def table(
    profiler: cProfile.Profile,
    operations: int,
    title: str,
    *,
    top: int = 15,
    sort: str = "own",
    keep: Callable[[str], bool] = lambda where: True,
) -> list[str]:
    """The ``top`` functions by own (or cumulative) time, per operation, as markdown lines."""
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_, calls, own, total, _) in entries.items():
        where = _where(file, line, name)
        if keep(where):
            rows.append((own if sort == "own" else total, calls, own, total, where))
    rows.sort(reverse=True)
    lines = [
        f"| {title} | calls/op | own µs/op | cumulative µs/op |",
        "|---|---:|---:|---:|",
    ]
    for _, calls, own, total, where in rows[:top]:
        lines.append(
            f"| `{where}` | {fmt(calls / operations)} | {fmt(own / operations * 1e6)} "
            f"| {fmt(total / operations * 1e6)} |"
        )
    return lines


def total_seconds(profiler: cProfile.Profile) -> float:
    """Own time summed over every function: the profiled CPU time of the thread."""
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return float(sum(own for (_, _, own, _, _) in entries.values()))


def waiting_seconds(profiler: cProfile.Profile) -> float:
    """Time spent blocked in epoll/select (waiting, not working)."""
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return float(
        sum(
            own
            for (_, line, name), (_, _, own, _, _) in entries.items()
            if not line and "poll" in name
        )
    )


def own_seconds(profiler: cProfile.Profile, keep: Callable[[str], bool]) -> float:
    """Own time summed over the functions ``keep`` selects."""
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return float(
        sum(
            own
            for (file, line, name), (_, _, own, _, _) in entries.items()
            if keep(_where(file, line, name))
        )
    )
