"""Benchmark: coverage of Table 1's 95 % interval of the barrier ratio, and the false-positive rate of
its test, simulated on the pair structure of every design in config.yaml.

Each design's structure comes from stardomain.design (config.yaml, schema defaults filled,
replicates expanded): the permuted regular-regular pairs form a K x J array (pair anchors x held-out
models), the permuted star-held-out pairs of the experiment's first star and its replicates an R x J
array over the same held-out models. Experiments with the same (K, J, R) share one row.

Barriers are simulated as log-normal multiplicative random effects, each factor of mean 1 (so the
true ratio is mu_star / mu_regular):

    regular[i, j] = mu_regular * anchor_i * heldout_j * noise_ij
    star[r, j]    = mu_star    * seed_r   * heldout_j * noise_rj     (heldout_j shared by both)

with log-sd --pair-sd for the pair noise in every structure and --effect-sd for the model effects
the structure switches on: none, star seeds, anchors, held-out models, all three. For digits'
default run (results/digits/barriers.csv) the log-scale residual of the 5 x 5 regular array is
about 0.5 and the anchors' spread about 0.2, hence the defaults.

Methods, each a nominal 95 % interval:
- old: star-held-out and regular-regular pairs resampled independently (the pair bootstrap that
  Table 1 used before the model-level interval), percentile;
- model bootstrap: held-out models (jointly for both arrays), anchors and star seeds resampled
  with replacement (a multi-way "pigeonhole" bootstrap, Owen 2007), percentile;
- new: stardomain.inference.ratio_interval (crossed random-effects variance, log-scale t interval).
Coverage is against the population ratio (star seeds random) and, for `new`, also against the
ratio given the trained star seeds (mu_star x their mean effect: all that one star can speak for).
The test, stardomain.inference.log_test: FPR = share of p < 0.05 when the true ratio is 1, with
the star seeds random and given them (their geometric-mean effect set to 1); power = share of
p < 0.05 at the --ratio of the coverage runs.

Usage: python benchmarks/coverage.py [--reps 2000] [--resamples 1000] [--effect-sd 0.3]
       [--pair-sd 0.5] [--ratio 0.4] [--experiments digits fmnist_cnn ...] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from snakemake.utils import validate

from stardomain import design
from stardomain.inference import ALPHA, LEVEL, log_test, ratio_interval

REPO = Path(__file__).resolve().parents[1]
STRUCTURES = {  # name -> factors with model effects (pair noise is always on)
    "pair noise only": (),
    "star seeds": ("star",),
    "anchors": ("anchor",),
    "held-out (shared)": ("heldout",),
    "all together": ("star", "anchor", "heldout"),
}
CHUNK = 100  # repetitions per vectorised block (memory: CHUNK x resamples x cells)


def structures(names: list[str] | None) -> pd.DataFrame:
    """(K pair anchors, J held-out, R star seeds) of each experiment of config.yaml, via design.pairs."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    design.expand_replicates(config)
    rows = []
    for name, exp in config["experiments"].items():
        if names and name not in names:
            continue
        first = next(iter(exp["stars"]))
        group = {design.star_id(s) for s, v in exp["stars"].items()
                 if v.get("replicate_of", s) == first}  # fmt: skip
        pairs = [p for p in design.pairs(exp) if p.alignment == "permuted"]
        regular = [p for p in pairs if p.kind == "regular-regular"]
        star = [p for p in pairs if p.kind == "star-heldout" and p.a in group]
        heldout = {p.b for p in regular}
        assert heldout == {p.b for p in star}, name  # both kinds share the held-out models
        k, j, r = len({p.a for p in regular}), len(heldout), len(group)
        assert len(regular) == k * j and len(star) == r * j, name  # complete crossed arrays
        rows.append(dict(experiment=name, K=k, J=j, R=r))

    def names(group: pd.Series) -> str:
        more = f" (+{len(group) - 2})" if len(group) > 2 else ""
        return ", ".join(group.iloc[:2]) + more

    table = pd.DataFrame(rows)
    return table.groupby(["K", "J", "R"], sort=False)["experiment"].agg(names).reset_index()


def effects(rng, sd: float, shape: tuple) -> np.ndarray:
    """Log-normal factors of mean 1 and log-sd `sd`."""
    return np.exp(sd * rng.standard_normal(shape) - sd**2 / 2)


def simulate(rng, n: int, k: int, j: int, r: int, on: tuple, sd: float, pair_sd: float,
             ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """n draws of star (n, R, J) and regular (n, K, J) barriers and of the seed effects (n, R)."""
    size = {f: (sd if f in on else 0.0) for f in ("star", "anchor", "heldout")}
    heldout = effects(rng, size["heldout"], (n, 1, j))
    seed = effects(rng, size["star"], (n, r, 1))
    regular = effects(rng, size["anchor"], (n, k, 1)) * heldout * effects(rng, pair_sd, (n, k, j))
    star = ratio * seed * heldout * effects(rng, pair_sd, (n, r, j))
    return star, regular, seed[:, :, 0]


def _percentile(ratios: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - LEVEL) / 2
    low, high = np.nanquantile(ratios, [tail, 1 - tail], axis=1)
    return low, high


def old_pair_bootstrap(rng, star, regular, resamples):
    """Pairs of each kind resampled independently with replacement (the old Table 1 interval)."""
    s, g = star.reshape(len(star), -1), regular.reshape(len(regular), -1)
    ws = rng.multinomial(s.shape[1], np.full(s.shape[1], 1 / s.shape[1]), resamples)
    wg = rng.multinomial(g.shape[1], np.full(g.shape[1], 1 / g.shape[1]), resamples)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _percentile((s @ ws.T / s.shape[1]) / (g @ wg.T / g.shape[1]))


def model_bootstrap(rng, star, regular, resamples):
    """Held-out columns (jointly), star rows and anchor rows resampled with replacement."""
    (r, j), k = star.shape[1:], regular.shape[1]

    def counts(m):
        return rng.multinomial(m, np.full(m, 1 / m), resamples)

    wj, wr, wk = counts(j), counts(r), counts(k)
    s = np.einsum("br,nrj,bj->nb", wr, star, wj) / (r * j)
    g = np.einsum("bk,nkj,bj->nb", wk, regular, wj) / (k * j)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _percentile(s / g)


def study(row, on: tuple, args, rng) -> dict:
    """Coverage of each method, the test's FPR and power for one design and one effect structure."""
    k, j, r = row["K"], row["J"], row["R"]
    out = {m: [] for m in ("old", "model bootstrap", "new", "new given seeds", "width", "FPR",
                           "FPR given seeds", "power")}  # fmt: skip
    for start in range(0, args.reps, CHUNK):
        n = min(CHUNK, args.reps - start)
        star, regular, seed = simulate(
            rng, n, k, j, r, on, args.effect_sd, args.pair_sd, args.ratio
        )
        truth = args.ratio
        for name, method in (("old", old_pair_bootstrap), ("model bootstrap", model_bootstrap)):
            low, high = method(rng, star, regular, args.resamples)
            out[name].append((low <= truth) & (truth <= high))
        new = ratio_interval(star, regular)
        out["new"].append((new["low"] <= truth) & (truth <= new["high"]))
        given = truth * seed.mean(1)
        out["new given seeds"].append((new["low"] <= given) & (given <= new["high"]))
        with np.errstate(divide="ignore", invalid="ignore"):
            out["width"].append(new["high"] / new["low"])
        out["power"].append(log_test(star, regular)["p_value"] < ALPHA)
        star, regular, seed = simulate(rng, n, k, j, r, on, args.effect_sd, args.pair_sd, 1.0)
        out["FPR"].append(log_test(star, regular)["p_value"] < ALPHA)
        geometric = np.exp(np.log(seed).mean(1))[:, None, None]
        out["FPR given seeds"].append(log_test(star / geometric, regular)["p_value"] < ALPHA)
    out = {m: np.concatenate(v) for m, v in out.items()}
    width = float(np.median(out.pop("width")))
    return dict({m: float(v.mean()) for m, v in out.items()}, **{"new high/low": width})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="simulated data sets per cell")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--effect-sd", type=float, default=0.3, help="log-sd of model effects")
    parser.add_argument("--pair-sd", type=float, default=0.5, help="log-sd of pair noise")
    parser.add_argument("--ratio", type=float, default=0.4, help="true ratio for coverage")
    parser.add_argument("--experiments", nargs="+", help="config.yaml experiments (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", type=Path, help="also write the table here")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"# coverage study, {datetime.date.today()}: {vars(args)}")
    print(f"# Monte Carlo standard error of a coverage near 0.95: "
          f"{np.sqrt(0.95 * 0.05 / args.reps):.3f}")  # fmt: skip
    rows = []
    for _, row in structures(args.experiments).iterrows():
        for structure, on in STRUCTURES.items():
            rows.append(dict(experiments=row["experiment"],
                             design=f"{row['K']} x {row['J']}, R = {row['R']}",
                             structure=structure, **study(row, on, args, rng)))  # fmt: skip
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".3f"))
    print("# old, model bootstrap, new: share of nominal 95 % intervals covering the true ratio;"
          " new given seeds: covering the ratio given the drawn star seeds; new high/low: median"
          " of the new interval's high / low; FPR (given seeds): share of p < 0.05 at true ratio"
          " 1; power: share of p < 0.05 at --ratio")  # fmt: skip
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
