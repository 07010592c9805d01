"""Tables from CSV files: the paper's Table 1 (train-loss barriers), Table 3 (test loss), and the
tables behind the ablation figures (barrier vs N, vs width and depth, t sampling, ensembles).

Table 1: one row per (experiment, star): star-held-out vs regular-regular barriers after
permutation, as mean, std and number of pairs, their ratio with a bootstrap interval (replicates of a
star pooled, with the range of their ratios), and the endpoint models' train loss and test accuracy. The ablation tables join those barriers with `design`, a table of what each star and
experiment is (number of anchors, t sampling, width, depth) written from the config.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stardomain import design
from stardomain.settings import ModelSettings, StarSettings

KINDS = ("regular-regular", "star-heldout", "star-anchor")


def _stats(values: pd.Series) -> tuple[float, float, int]:
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values)


BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_LEVEL = 0.95


def bootstrap_ratio(
    star: np.ndarray, regular: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval (BOOTSTRAP_LEVEL) of mean(star) / mean(regular) under resampling.

    The star-held-out pairs and the regular-regular pairs are resampled independently, each with
    replacement at its own size, `resamples` times from a fixed `seed` (so the interval is the same
    on every run of the same barriers). Pairs that share a model are treated as independent, which
    makes the interval somewhat narrower than one that resamples models.
    """
    rng = np.random.default_rng(seed)
    star, regular = np.asarray(star, float), np.asarray(regular, float)
    s = star[rng.integers(0, len(star), (resamples, len(star)))].mean(1)
    r = regular[rng.integers(0, len(regular), (resamples, len(regular)))].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = s / r
    tail = (1 - BOOTSTRAP_LEVEL) / 2
    low, high = np.nanquantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def replicate_groups(designs: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """(experiment, star id) -> the star id it is a replicate of (itself for a first replicate)."""
    if designs is None or "replicate_of" not in designs:
        return {}
    return {
        (e, s): design.star_id(base)
        for e, s, base in zip(
            designs["experiment"], designs["star"], designs["replicate_of"], strict=True
        )
    }


def table1(barriers: pd.DataFrame, designs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Summarise a barriers table (rows as written by the curve jobs) per experiment and star.

    Replicates of a star (`designs`' replicate_of, `stars.<name>.replicates`) are pooled into one
    row: their star-held-out pairs together, with the range of the per-replicate ratios. Every
    ratio comes with a bootstrap interval (`bootstrap_ratio`).
    """
    rows = []
    groups = replicate_groups(designs)
    permuted = barriers[barriers["alignment"] == "permuted"]
    for exp, part in permuted.groupby("experiment", sort=True):
        regular = part[part["kind"] == "regular-regular"]
        stars = part[part["kind"] == "star-heldout"]
        base = stars["a"].map(lambda s, exp=exp: groups.get((exp, s), s))
        for star, star_part in stars.groupby(base, sort=True):
            row = dict(experiment=exp, star=star)
            replicates = star_part.groupby("a", sort=True)
            for split in ("train", "test"):
                col = f"barrier_loss_{split}"
                s_mean, s_std, s_n = _stats(star_part[col])
                r_mean, r_std, r_n = _stats(regular[col])
                low, high = bootstrap_ratio(star_part[col], regular[col])
                per_replicate = replicates[col].mean() / r_mean if r_mean > 0 else float("nan")
                row |= {
                    f"star_heldout_{col}_mean": s_mean,
                    f"star_heldout_{col}_std": s_std,
                    f"regular_regular_{col}_mean": r_mean,
                    f"regular_regular_{col}_std": r_std,
                    f"ratio_{col}": s_mean / r_mean if r_mean > 0 else float("nan"),
                    f"ratio_{col}_ci_low": low,
                    f"ratio_{col}_ci_high": high,
                    f"ratio_{col}_replicate_min": float(np.min(per_replicate)),
                    f"ratio_{col}_replicate_max": float(np.max(per_replicate)),
                }
            row |= dict(
                n_star_heldout_pairs=s_n,
                n_regular_regular_pairs=r_n,
                n_star_replicates=len(replicates),
            )
            # endpoint metrics: the star is model a; regular models are the held-out b's
            row["star_train_loss"] = float(star_part["loss_train_a"].mean())
            row["star_test_accuracy"] = float(star_part["accuracy_test_a"].mean())
            row["regular_train_loss_mean"] = float(star_part["loss_train_b"].mean())
            row["regular_test_accuracy_mean"] = float(star_part["accuracy_test_b"].mean())
            rows.append(row)
    return pd.DataFrame(rows)


def _ratio_cell(r: dict, col: str) -> str:
    """'0.48 [0.31, 0.70]', plus the per-replicate range of a star with replicates."""
    text = (
        f"{r[f'ratio_{col}']:.2f} [{r[f'ratio_{col}_ci_low']:.2f}, {r[f'ratio_{col}_ci_high']:.2f}]"
    )
    if r["n_star_replicates"] > 1:
        low, high = r[f"ratio_{col}_replicate_min"], r[f"ratio_{col}_replicate_max"]
        text += f" (replicates {low:.2f}–{high:.2f})"
    return text


def _pm(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def table1_markdown(table: pd.DataFrame) -> str:
    """The paper-style rendering: barriers as mean ± std, ratio, endpoint metrics."""
    head = (
        "| experiment | star | train-loss barrier star–held-out | regular–regular "
        "| ratio [95 % bootstrap] | test-loss barrier star–held-out | regular–regular "
        "| ratio [95 % bootstrap] | pairs (star / regular) | star replicates "
        "| star train loss | star test acc. (%) | regular test acc. (%) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in table.itertuples(index=False):
        r = r._asdict()
        cells = [r["experiment"], r["star"]]
        for split in ("train", "test"):
            col = f"barrier_loss_{split}"
            cells += [
                _pm(r[f"star_heldout_{col}_mean"], r[f"star_heldout_{col}_std"]),
                _pm(r[f"regular_regular_{col}_mean"], r[f"regular_regular_{col}_std"]),
                _ratio_cell(r, col),
            ]
        cells += [
            f"{r['n_star_heldout_pairs']} / {r['n_regular_regular_pairs']}",
            r["n_star_replicates"],
            f"{r['star_train_loss']:.3f}",
            f"{100 * r['star_test_accuracy']:.1f}",
            f"{100 * r['regular_test_accuracy_mean']:.1f}",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return head + "\n".join(lines) + "\n"


def design_table(
    name: str,
    stars: dict[str, StarSettings],
    replicate_of: dict[str, str],
    model: ModelSettings,
    n_heldout: int,
) -> pd.DataFrame:
    """One row per star (name -> its settings, `design.star_settings`): what it is, which star it
    is a replicate of (`replicate_of`, itself where absent) and the model it shares."""
    rows = []
    for star, settings in stars.items():
        rows.append(
            dict(
                experiment=name,
                star=design.star_id(star),
                replicate_of=replicate_of.get(star, star),
                star_seed=settings.seed,
                n_anchors=len(settings.anchors),
                t_sampling=settings.t_sampling,
                t_label=t_label(settings),
                mu_star=settings.mu_star,
                realign=settings.realign,
                star_epochs=settings.epochs,
                model=model.name,
                width=model.width,
                depth=model.depth,
                n_heldout=n_heldout,
            )
        )
    return pd.DataFrame(rows)


def t_label(star: StarSettings) -> str:
    """Paper-style name of a star's t distribution: U[0,1], Beta(a,b) or t = c."""
    if star.t_sampling == "beta":
        a, b = star.beta
        return f"Beta({a:g},{b:g})"
    if star.t_sampling == "constant":
        return f"t = {star.t_constant:g}"
    return "U[0,1]"


def star_barriers(barriers: pd.DataFrame, designs: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, star): permuted star-held-out barriers (mean, std, pairs), the star's own
    train/test loss and test accuracy, the experiment's regular-regular barriers, and its design."""
    rows = []
    permuted = barriers[barriers["alignment"] == "permuted"]
    for (exp, star), part in permuted[permuted["kind"] == "star-heldout"].groupby(
        ["experiment", "a"], sort=False
    ):
        regular = permuted[
            (permuted["experiment"] == exp) & (permuted["kind"] == "regular-regular")
        ]
        row = dict(experiment=exp, star=star)
        for split in ("train", "test"):
            col = f"barrier_loss_{split}"
            row[f"star_{col}_mean"], row[f"star_{col}_std"], row["n_star_pairs"] = _stats(part[col])
            if len(regular):
                row[f"regular_{col}_mean"], row[f"regular_{col}_std"], row["n_regular_pairs"] = (
                    _stats(regular[col])
                )
        row["star_train_loss"] = float(part["loss_train_a"].mean())
        row["star_test_loss"] = float(part["loss_test_a"].mean())
        row["star_test_accuracy"] = float(part["accuracy_test_a"].mean())
        rows.append(row)
    return pd.DataFrame(rows).merge(designs, on=["experiment", "star"], how="left")


def select_stars(table: pd.DataFrame, experiment: str, stars: list[str]) -> pd.DataFrame:
    """Rows of `star_barriers` for `stars` (names) of `experiment`, in that order."""
    ids = [design.star_id(s) for s in stars]
    part = table[(table["experiment"] == experiment) & table["star"].isin(ids)]
    missing = sorted(set(ids) - set(part["star"]))
    if missing:
        raise ValueError(f"{experiment}: no star-held-out barriers for {missing}")
    return part.set_index("star").loc[ids].reset_index()


def sweep_table(table: pd.DataFrame, width: list[str], depth: list[str]) -> pd.DataFrame:
    """Width and depth sweeps: one row per (sweep, experiment) with the experiment's first star."""
    rows = []
    for sweep, experiments in (("width", width), ("depth", depth)):
        for exp in experiments:
            part = table[table["experiment"] == exp]
            if part.empty:
                raise ValueError(f"{exp}: no star-held-out barriers (figures.{sweep}_sweep)")
            rows.append(dict(part.iloc[0], sweep=sweep))
    columns = ["sweep", "experiment", "star", "width", "depth"]
    out = pd.DataFrame(rows)
    return out[columns + [c for c in out.columns if c not in columns]]


def ensemble_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over models of every metric, per (experiment, method, star)."""
    values = ["accuracy", "nll", "ece", "auroc_misclassification"]
    keys = ["experiment", "method", "star"]
    metrics = metrics.assign(star=metrics["star"].fillna(""))
    grouped = metrics.groupby(keys, sort=False)
    out = grouped[values].mean().add_suffix("_mean")
    out = out.join(grouped[values].std(ddof=1).fillna(0.0).add_suffix("_std"))
    out["models"] = grouped.size()
    out["members"] = grouped["members"].first()
    return out.reset_index()


def markdown(table: pd.DataFrame, columns: dict[str, str], digits: int = 3) -> str:
    """A Markdown table of `columns` (column -> header); floats with `digits` decimals."""

    def cell(v) -> str:
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join(cell(r[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"
