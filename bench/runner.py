"""Run several subjects in alternation, several times, and collect their figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bench.stats import Summary

Measure = Callable[[], Mapping[str, float]]
"""One run of one subject: figure name -> value."""


@dataclass(frozen=True, slots=True)
class Options:
    runs: int = 5
    quick: bool = False


def alternate(subjects: Mapping[str, Measure], runs: int) -> dict[str, dict[str, Summary]]:
    """Run each subject once per round, ``runs`` rounds (A B C A B C ...): subject -> figure -> summary."""
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in subjects}
    for _ in range(runs):
        for name, measure in subjects.items():
            for figure, value in measure().items():
                figures[name].setdefault(figure, []).append(value)
    return {
        name: {figure: Summary.of(values) for figure, values in by_figure.items()}
        for name, by_figure in figures.items()
    }
