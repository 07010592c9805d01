"""benchmarks/_timing.py: spreads, per-round ratios and verdicts, on synthetic timings."""

from __future__ import annotations

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from _timing import INCONCLUSIVE, Spread, compare, interleaved, verdict  # noqa: E402


def test_variants_run_interleaved_after_warmup():
    calls = []
    times = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3, 1)
    assert calls == ["a", "b"] * 4 and [len(v) for v in times.values()] == [3, 3]


def test_spread_is_median_quartiles_and_extremes():
    s = Spread.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.q1, s.q3, s.min, s.max, s.n) == (3.0, 2.0, 4.0, 1.0, 5.0, 5)
    assert s.text() == "3.000 (IQR 2.000-4.000, range 1.000-5.000, n=5)"


@pytest.mark.parametrize(
    "ratios, goal, expected",
    [
        ([0.98, 1.00, 1.01, 1.02, 1.03], "<= 1.05", "met"),
        ([1.08, 1.10, 1.11, 1.12, 1.20], "<= 1.05", "missed"),
        ([1.00, 1.03, 1.05, 1.07, 1.09], "<= 1.05", INCONCLUSIVE),
        ([4.1, 5.0, 5.5, 6.0, 6.3], ">= 3", "met"),
        ([2.0, 2.5, 2.7, 2.8, 2.9], ">= 3", "missed"),
        ([2.5, 2.9, 3.2, 3.6, 4.0], ">= 3", INCONCLUSIVE),
        ([0.97, 0.98, 1.00, 1.01, 1.90], "<= 1.05", INCONCLUSIVE),  # one round under a burst
        ([1.04, 1.06, 1.07, 1.08, 1.35], "<= 1.05", INCONCLUSIVE),  # IQR above, one round below
        ([1.00], None, None),
    ],
)
def test_verdict_needs_every_round_on_one_side(ratios, goal, expected):
    assert verdict(Spread.of(ratios), goal) == expected


def test_ratio_spread_pairs_the_rounds_so_that_shared_load_cancels():
    """Both variants slowed alike round by round (the load next door): every per-round ratio is
    1.25 although each variant's own times spread by a factor of 3."""
    plain = [1.0, 2.0, 3.0, 1.5, 2.5]
    times = {"plain": plain, "star": [1.25 * t for t in plain]}
    c = compare(times, "star", "plain", "<= 1.3")
    assert c["ratio_of_medians"] == pytest.approx(1.25)
    assert c["per_round"]["min"] == pytest.approx(1.25) and c["per_round"]["max"] == pytest.approx(
        1.25
    )
    assert (
        c["verdict"] == "met" and compare(times, "star", "plain", "<= 1.2")["verdict"] == "missed"
    )
    noisy = {"plain": [1.0, 1.0, 1.0, 1.0], "star": [0.9, 1.5, 1.0, 1.3]}
    assert compare(noisy, "star", "plain", "<= 1.2")["verdict"] == INCONCLUSIVE
