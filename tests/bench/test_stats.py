"""The bench's ratios: paired per round when both sides ran in the same rounds."""

from __future__ import annotations

import pytest

from bench.stats import Summary, ratio


def test_a_ratio_is_the_median_of_the_rounds_ratios() -> None:
    ours = Summary.of([150.0, 400.0, 310.0])
    peer = Summary.of([100.0, 380.0, 300.0])
    # Rounds: 1.50x, 1.05x, 1.03x. The ratio of the medians (310 / 300) pairs nothing that ran
    # together; the median round says 1.05x.
    assert ratio(ours, peer) == pytest.approx(400 / 380)


def test_summaries_of_different_run_counts_compare_their_medians() -> None:
    assert ratio(Summary.of([3.0, 3.0]), Summary.of([1.0, 2.0, 3.0])) == pytest.approx(1.5)
    assert ratio(Summary(3.0, 3.0, 3.0, 1), Summary(2.0, 2.0, 2.0, 1)) == pytest.approx(1.5)
