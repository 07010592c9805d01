"""Timing shared by the benchmarks: interleaved rounds, medians with spreads, verdicts that hold.

On a shared machine (a laptop, a login node, two cores for several people) one measurement of a
ratio says little: the load next door changes from second to second. So every benchmark
  1. runs the variants it compares interleaved, A B A B ..., for `repeats` rounds, so that slow
     changes of the load hit every variant alike;
  2. reports per variant the median and the spread (interquartile range and min-max) over rounds;
  3. reports the ratio of the medians, and as its spread the quartiles and extremes of the
     per-round ratios (each round's A / B, two measurements taken back to back);
  4. gives a verdict against the goal only when every per-round ratio, min to max, lies on one
     side of it ("met" / "missed"), else "inconclusive at this noise".
Min-max, not the interquartile range, decides. Load does not only add noise, it shifts the ratio
itself (on 2 shared cores the Starlight/SGD step ratio of ResNet-18 was 1.04 idle, IQR 1.04-1.08
in one loaded run and 1.11-1.16 in the next): a verdict on the quartiles flipped between runs, one
that needs every round to agree did not. One round hit by a burst of load makes it inconclusive,
which is what one can honestly say then.

`--json PATH` of each benchmark writes `Spread.as_dict` / `compare` results, so that a script
reads the numbers without parsing the printed prose.
"""

from __future__ import annotations

import json
import operator
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

INCONCLUSIVE = "inconclusive at this noise"
_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


def interleaved(
    variants: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 1,
    sync: Callable[[], object] = lambda: None,
    inner: int = 1,
) -> dict[str, list[float]]:
    """Seconds per call of every variant, `repeats` rounds of A B A B ... (round-robin).

    warmup: untimed rounds first; sync: waits for the device before each clock reading
    (torch.cuda.synchronize: GPU work is asynchronous); inner: calls per timed measurement, so
    that a GPU queue stays full between two syncs. Returns {variant: [seconds per call] * repeats}.
    """
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            sync()
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            sync()
            times[name].append((time.perf_counter() - start) / inner)
    return times


@dataclass(frozen=True)
class Spread:
    """Median, quartiles and extremes of repeated measurements (seconds, or a ratio)."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        values = sorted(values)
        if not values:
            raise ValueError("no measurements")
        q1, median, q3 = (
            statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
        )
        return cls(median, q1, q3, values[0], values[-1], len(values))

    def text(self, scale: float = 1.0, fmt: str = ".3f") -> str:
        """'median (IQR q1-q3, range min-max, n rounds)', every number times `scale`."""
        m, a, b, lo, hi = (
            format(scale * v, fmt) for v in (self.median, self.q1, self.q3, self.min, self.max)
        )
        return f"{m} (IQR {a}-{b}, range {lo}-{hi}, n={self.n})"

    def as_dict(self) -> dict:
        return asdict(self)


def verdict(spread: Spread, goal: str | None) -> str | None:
    """'met' or 'missed' when all of `spread`, min to max, lies on one side of `goal` (e.g.
    '<= 1.05', '>= 3'), else INCONCLUSIVE; None without a goal."""
    if goal is None:
        return None
    op, value = goal.split()
    ok = _OPS[op]
    both = ok(spread.min, float(value)), ok(spread.max, float(value))
    return "met" if all(both) else "missed" if not any(both) else INCONCLUSIVE


def compare(times: dict[str, list[float]], num: str, den: str, goal: str | None = None) -> dict:
    """The ratio `num` / `den` of interleaved timings: ratio of medians, spread of the per-round
    ratios (round i: times[num][i] / times[den][i]) and the verdict against `goal` on it."""
    per_round = Spread.of([a / b for a, b in zip(times[num], times[den], strict=True)])
    return dict(
        ratio=f"{num}/{den}",
        ratio_of_medians=statistics.median(times[num]) / statistics.median(times[den]),
        per_round=per_round.as_dict(),
        goal=goal,
        verdict=verdict(per_round, goal),
    )


def compare_text(c: dict) -> str:
    """One line: ratio of medians, per-round spread, verdict."""
    r = Spread(**c["per_round"])
    line = f"{c['ratio']} = {c['ratio_of_medians']:.3f} (per-round ratios: {r.text()})"
    return line + (f"; goal {c['goal']}: {c['verdict']}" if c["goal"] else "")


def summary(times: dict[str, list[float]]) -> dict[str, dict]:
    """{variant: Spread.as_dict()} of interleaved timings."""
    return {k: Spread.of(v).as_dict() for k, v in times.items()}


def summary_text(times: dict[str, list[float]], scale: float = 1e3, unit: str = "ms") -> str:
    """Lines 'variant: median (IQR, range, n) unit', one per variant."""
    return "\n".join(
        f"  {k:<12} {Spread.of(v).text(scale, '.2f')} {unit}" for k, v in times.items()
    )


def write_json(path: str | None, results: dict) -> None:
    """Write `results` to `path` (no-op for None)."""
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=1, default=str)
