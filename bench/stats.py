"""Small statistics: medians, ranges and percentiles of repeated measurements."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Summary:
    """The median and the range of one figure over several runs, and the runs' values in the
    order they ran (``bench.runner.alternate`` runs every subject once per round)."""

    median: float
    low: float
    high: float
    runs: int
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("no measurements")
        return cls(statistics.median(values), min(values), max(values), len(values), tuple(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank on sorted values."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]


def ratio(ours: Summary, peer: Summary) -> float:
    """``ours / peer`` (a rate: above 1 is faster; a time: above 1 is slower).

    When both were measured in the same rounds, the median of the per-round ratios: each
    round's pair ran back to back, so a slow stretch of a shared machine moves both sides and
    cancels out, where the ratio of two medians can pair a fast round of one side with a slow
    round of the other. Otherwise the ratio of the medians.
    """
    if len(ours.values) == len(peer.values) > 0 and all(peer.values):
        return statistics.median(o / p for o, p in zip(ours.values, peer.values, strict=True))
    return ours.median / peer.median if peer.median else float("inf")
