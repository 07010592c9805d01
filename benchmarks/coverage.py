"""Benchmark: coverage of Table 1's 95 % interval of the barrier ratio, and the false-positive rate of
its test, simulated on the pair structure of every design in config.yaml.

Each design's structure comes from stardomain.design (config.yaml, schema defaults filled,
replicates expanded): the permuted regular-regular pairs form a K x J array (pair anchors x held-out
models), the permuted star-held-out pairs of the experiment's first star and its replicates an R x J
array over the same held-out models. Experiments with the same (K, J, R) share one row.

Barriers are simulated as log-normal multiplicative random effects, each factor of mean 1 (so the
true ratio is mu_star / mu_regular, the ratio of mean barriers that Table 1 reports):

    regular[i, j] = mu_regular * anchor_i * heldout_j * noise_ij
    star[r, j]    = mu_star    * seed_r   * heldout_j * noise_rj     (heldout_j shared by both)

with log-sd --pair-sd for the pair noise in every structure and --effect-sd for the model effects
the structure switches on: none, star seeds, anchors, held-out models, all three. For digits'
default run (results/digits/barriers.csv) the log-scale residual of the 5 x 5 regular array is
about 0.5 and the anchors' spread about 0.2, hence the defaults.

A factor with a single model (one star seed, or one anchor as in imagenet_resnet18) cannot show
its spread, so Table 1 marks such a row as conditional on that model: the columns below hold it
at 1, except `new (population)`, which draws it too (and shows what one model cannot speak for).

Methods, each a nominal 95 % interval:
- old: star-held-out and regular-regular pairs resampled independently (the pair bootstrap that
  Table 1 used before the model-level interval), percentile;
- model bootstrap: held-out models (jointly for both arrays), anchors and star seeds resampled
  with replacement (a multi-way "pigeonhole" bootstrap, Owen 2007), percentile;
- new: stardomain.inference.ratio_interval (crossed random-effects variance, log-scale t interval).
The test, stardomain.inference.log_test: FPR = share of p < 0.05 when the true ratio of mean
barriers is 1, and when the true ratio of geometric means is 1 (its own null; the two differ when
star seeds spread more than anchors); power = share of p < 0.05 at --ratio.

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
    unknown = sorted(set(names or ()) - set(config["experiments"]))
    if unknown:
        raise SystemExit(f"--experiments: {unknown} not in config.yaml's experiments")
    rows = []
    for name, exp in config["experiments"].items():
        if names and name not in names:
            continue
        first = next(iter(exp["stars"]))
        group = {design.star_id(s) for s, v in exp["stars"].items()
                 if v.get("replicate_of", s) == first}  # fmt: skip
        own = [p for p in design.pairs(exp) if design.recipe_of(p.b) == design.MAIN_RECIPE]
        pairs = [p for p in own if p.alignment == "permuted"]  # held-out groups left out
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


def simulate(rng, n: int, design: tuple, on: tuple, args, ratio: float, given: bool = True,
             geometric: bool = False) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """n draws of star (n, R, J) and regular (n, K, J) barriers with true ratio `ratio`.

    design: (K, J, R); on: the factors with model effects (log-sd args.effect_sd; pair noise
    args.pair_sd always). Factors are log-normal of mean 1 (true ratio = ratio of mean barriers),
    or of log-mean 0 with `geometric` (ratio of geometric means). `given`: a factor with a single
    model (one star seed, one anchor) is held at 1, the target Table 1 claims for such a row.
    """
    k, j, r = design
    shift = 0.0 if geometric else 0.5

    def factor(name: str, sd: float, shape: tuple, levels: int = 2) -> np.ndarray:
        sd = sd if name in on or name == "pair" else 0.0
        if given and levels == 1:
            sd = 0.0
        return np.exp(sd * rng.standard_normal(shape) - shift * sd**2)

    size = args.effect_sd
    heldout = factor("heldout", size, (n, 1, j))
    regular = factor("anchor", size, (n, k, 1), k) * heldout
    star = ratio * factor("star", size, (n, r, 1), r) * heldout
    return star * factor("pair", args.pair_sd, (n, r, j)), regular * factor(
        "pair", args.pair_sd, (n, k, j)
    )


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


def study(design: tuple, on: tuple, args, rng) -> dict:
    """Coverage of each method, the test's FPR and power for one design and one effect structure."""
    names = ("old", "model bootstrap", "new", "new (population)", "width", "FPR",
             "FPR (geometric null)", "power")  # fmt: skip
    out = {m: [] for m in names}
    for start in range(0, args.reps, CHUNK):
        n = min(CHUNK, args.reps - start)
        truth = args.ratio
        star, regular = simulate(rng, n, design, on, args, truth)
        for name, method in (("old", old_pair_bootstrap), ("model bootstrap", model_bootstrap)):
            low, high = method(rng, star, regular, args.resamples)
            out[name].append((low <= truth) & (truth <= high))
        new = ratio_interval(star, regular)
        out["new"].append((new["low"] <= truth) & (truth <= new["high"]))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out["width"].append(new["high"] / new["low"])
        out["power"].append(log_test(star, regular)["p_value"] < ALPHA)
        new = ratio_interval(*simulate(rng, n, design, on, args, truth, given=False))
        out["new (population)"].append((new["low"] <= truth) & (truth <= new["high"]))
        test = log_test(*simulate(rng, n, design, on, args, 1.0))
        out["FPR"].append(test["p_value"] < ALPHA)
        test = log_test(*simulate(rng, n, design, on, args, 1.0, geometric=True))
        out["FPR (geometric null)"].append(test["p_value"] < ALPHA)
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
                             structure=structure,
                             **study((row["K"], row["J"], row["R"]), on, args, rng)))  # fmt: skip
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".3f"))
    print("# old, model bootstrap, new: share of nominal 95 % intervals covering the true ratio, a"
          " single star seed or anchor held fixed (what such a row claims); new (population): the"
          " same with it random too; new high/low: the new interval's median high / low; FPR:"
          " share of p < 0.05 at a true ratio of mean barriers of 1, (geometric null): of"
          " geometric means; power: share of p < 0.05 at --ratio")  # fmt: skip
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
