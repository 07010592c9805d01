"""The paper's Table 1 (train-loss barriers) and Table 3 (test loss) from barrier rows.

One row per (experiment, star, held-out recipe): the star-held-out barriers of the held-out models
trained with that recipe (`train`: the experiment's own; else a held-out group's) vs the
regular-regular barriers between the anchors and those same held-out models, after permutation, as
mean, std and number of pairs; their ratio with a model-level 95 % interval and the p-value of a
one-sided model-level test (stardomain.inference; docs/method.md, section 4); how many distinct
models stand behind them (held-out models, pair anchors, star seeds); the evaluation shortcuts the
experiment's curves used (summary.eval_shortcuts); the endpoint models' train loss and test
accuracy, and the star's minus the held-out models'. Replicates of a star
(`stars.<name>.replicates`) are pooled into its row, with the range of their ratios. Next to the
ratio's baseline (anchors x held-out, across the two recipes) stand the regular-regular baselines
within the anchors' recipe and within the held-out recipe (docs/configuration.md, "Held-out models
trained with other recipes").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stardomain import design, inference
from stardomain.summary import with_recipes

# A factor whose spread the interval estimates (held-out models always; anchors and star seeds
# when there are 2 or more) needs 3 levels: with 2 it has 1 degree of freedom (t quantile 12.7).
# In the coverage study (benchmarks/coverage.py) the 2 x 2 design still covers, but its median
# high/low is over 1,000 and its test's power at a true ratio of 0.4 is below 0.2.
MIN_LEVELS = 3
# An interval whose variance has fewer degrees of freedom is marked too wide to read (t quantile
# at df 2: 4.3; at df 1: 12.7; at df 0.5: about 160; a design of 3 held-out models and one star
# has about 2).
MIN_DF = 1
SPLITS = ("train", "test")


def _stats(values: pd.Series) -> tuple[float, float, int]:
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values)


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


def crossed(pairs: pd.DataFrame, column: str, heldout: list[str]) -> np.ndarray | None:
    """`column` of `pairs` as a (models a, held-out models b) array, columns in `heldout` order;
    None when a pair of the grid is missing. Raises ValueError on a duplicated pair."""
    grid = pairs.pivot(index="a", columns="b", values=column).reindex(columns=heldout)
    return None if grid.isna().to_numpy().any() else grid.to_numpy(float)


def too_few(n_heldout: int, n_anchors: int, n_stars: int) -> list[str]:
    """The factors of a row estimated from fewer than MIN_LEVELS models, e.g. ['2 held-out models']."""
    counts = {"held-out models": n_heldout, "anchors": n_anchors, "star seeds": n_stars}
    return [
        f"{n} {name}"
        for name, n in counts.items()
        if n < MIN_LEVELS and (name == "held-out models" or n > 1)
    ]


def interval_note(n_heldout: int, n_anchors: int, n_stars: int) -> str:
    """What the interval and the test of a row cannot speak for, from its model counts."""
    few = too_few(n_heldout, n_anchors, n_stars)
    notes = [f"too few models: {', '.join(few)}"] if few else []
    if n_stars == 1:
        notes.append("one star seed: conditional on it")
    if n_anchors == 1:
        notes.append("one anchor: conditional on it")
    return "; ".join(notes) or "none"


def _ratio_columns(star: pd.DataFrame, regular: pd.DataFrame, col: str) -> dict:
    """Ratio of means, model-level interval, df and test p-value of one split's barriers."""
    heldout = sorted(set(regular["b"]) | set(star["b"]))
    s, g = crossed(star, col, heldout), crossed(regular, col, heldout)
    nan = dict(ratio=np.nan, low=np.nan, high=np.nan, df=np.nan, p_value=np.nan)
    found = nan if s is None or g is None else inference.ratio_interval(s, g)
    test = nan if s is None or g is None else inference.log_test(s, g)
    r_mean = regular[col].mean()
    ratio = star[col].mean() / r_mean if r_mean > 0 else float("nan")
    per_replicate = star.groupby("a")[col].mean() / r_mean if r_mean > 0 else pd.Series([np.nan])
    return {
        f"ratio_{col}": ratio,
        f"ratio_{col}_ci_low": float(found["low"]),
        f"ratio_{col}_ci_high": float(found["high"]),
        f"ratio_{col}_df": float(found["df"]),
        f"ratio_{col}_p_value": float(test["p_value"]),
        f"ratio_{col}_replicate_min": float(np.min(per_replicate)),
        f"ratio_{col}_replicate_max": float(np.max(per_replicate)),
    }


def heldout_recipes(part: pd.DataFrame) -> list[str]:
    """The recipes of an experiment's held-out models: its own first, then its held-out groups."""
    found = list(dict.fromkeys(part.loc[part["kind"] == "star-heldout", "recipe_b"]))
    return sorted(found, key=lambda r: r != design.MAIN_RECIPE)


def _baseline(regular: pd.DataFrame, col: str, recipe_a: str, recipe_b: str, name: str) -> dict:
    """Mean, std and pair count of the regular-regular barriers between two recipes."""
    pairs = regular[(regular["recipe_a"] == recipe_a) & (regular["recipe_b"] == recipe_b)]
    mean, std, n = _stats(pairs[col]) if len(pairs) else (np.nan, np.nan, 0)
    return {f"{name}_{col}_mean": mean, f"{name}_{col}_std": std, f"{name}_{col}_pairs": n}


def table1(barriers: pd.DataFrame, designs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Summarise a barriers table (rows as written by the curve jobs) per experiment and star.

    `designs` (results/<exp>/design.csv rows) says which stars are replicates of one another
    (pooled into one row) and which evaluation shortcuts each experiment used (`eval_shortcuts`).
    """
    rows = []
    groups = replicate_groups(designs)
    shortcuts = {}
    if designs is not None and "eval_shortcuts" in designs:
        shortcuts = dict(zip(designs["experiment"], designs["eval_shortcuts"], strict=True))
    permuted = with_recipes(barriers[barriers["alignment"] == "permuted"])
    main = design.MAIN_RECIPE
    for (exp, star, recipe), star_part, regulars in _row_parts(permuted, groups):
        regular = regulars[(regulars["recipe_a"] == main) & (regulars["recipe_b"] == recipe)]
        row = dict(experiment=exp, star=star, heldout_recipe=recipe)
        for split in SPLITS:
            col = f"barrier_loss_{split}"
            s_mean, s_std, s_n = _stats(star_part[col])
            r_mean, r_std, r_n = _stats(regular[col])
            row |= {
                f"star_heldout_{col}_mean": s_mean,
                f"star_heldout_{col}_std": s_std,
                f"regular_regular_{col}_mean": r_mean,
                f"regular_regular_{col}_std": r_std,
                **_ratio_columns(star_part, regular, col),
                **_baseline(regulars, col, main, main, "regular_within_anchors_recipe"),
                **_baseline(regulars, col, recipe, recipe, "regular_within_heldout_recipe"),
            }
        counts = dict(
            n_heldout_models=len(set(star_part["b"]) | set(regular["b"])),
            n_pair_anchors=regular["a"].nunique(),
            n_star_replicates=star_part["a"].nunique(),
        )
        row |= dict(n_star_heldout_pairs=s_n, n_regular_regular_pairs=r_n, **counts)
        row["interval_note"] = interval_note(
            counts["n_heldout_models"], counts["n_pair_anchors"], counts["n_star_replicates"]
        )
        row["eval_shortcuts"] = shortcuts.get(exp, "none")
        # endpoint metrics: the star is model a; regular models are the held-out b's
        row["star_train_loss"] = float(star_part["loss_train_a"].mean())
        row["star_test_accuracy"] = float(star_part["accuracy_test_a"].mean())
        row["regular_train_loss_mean"] = float(star_part["loss_train_b"].mean())
        row["regular_test_accuracy_mean"] = float(star_part["accuracy_test_b"].mean())
        row["star_minus_regular_train_loss"] = (
            row["star_train_loss"] - row["regular_train_loss_mean"]
        )
        row["star_minus_regular_test_accuracy"] = (
            row["star_test_accuracy"] - row["regular_test_accuracy_mean"]
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _row_parts(permuted: pd.DataFrame, groups: dict[tuple[str, str], str]):
    """((experiment, star, held-out recipe), its star-held-out rows, the experiment's regular-
    regular rows) per row of Table 1: a star's replicates pooled, the experiment's own recipe first."""
    for exp, part in permuted.groupby("experiment", sort=True):
        regulars = part[part["kind"] == "regular-regular"]
        stars = part[part["kind"] == "star-heldout"]
        base = stars["a"].map(lambda s, exp=exp: groups.get((exp, s), s))
        for star, star_part in stars.groupby(base, sort=True):
            for recipe in heldout_recipes(part):
                yield (exp, star, recipe), star_part[star_part["recipe_b"] == recipe], regulars


# ---- Markdown ------------------------------------------------------------------------------------

MARKS = {  # mark -> footnote, shown under the table when a row carries the mark
    "†": "one star seed (or one anchor): the interval and p hold for this star (anchor); the "
    "spread over star seeds (anchors) cannot be estimated from one model.",
    "*": f"a factor estimated from fewer than {MIN_LEVELS} models (held-out models, anchors or "
    "star seeds): its spread has at most 1 degree of freedom, so the interval is too wide to read "
    "(or missing with 1 held-out model; docs/method.md, section 4).",
    "‡": f"fewer than {MIN_DF} degree of freedom: one factor's spread, estimated from 3 to 5 "
    "models, dominates the interval's variance (Satterthwaite's df of a difference of mean "
    "squares falls below 1 when the difference nearly cancels), so the interval is too wide to "
    "read; the test's p stands (docs/method.md, section 4).",
    "ˢ": "evaluated with shortcuts, not the paper's full protocol (their measured error: "
    "docs/method.md, section 3):",
}


def _shortcut(label) -> bool:
    """Whether an `eval_shortcuts` label names shortcuts (not 'none', not missing)."""
    return isinstance(label, str) and label not in ("none", "")


def _marks(r: dict) -> str:
    counts = (r["n_heldout_models"], r["n_pair_anchors"], r["n_star_replicates"])
    mark = "*" if too_few(*counts) else ""
    return mark + ("†" if r["n_star_replicates"] == 1 or r["n_pair_anchors"] == 1 else "")


def _bound(value: float) -> str:
    """An interval bound with two decimals, or '< 0.01' / '> 100' beyond them."""
    return "< 0.01" if value < 0.01 else "> 100" if value > 100 else f"{value:.2f}"


def _df_mark(r: dict, col: str) -> str:
    return "‡" if r[f"ratio_{col}_df"] < MIN_DF else ""


def _ratio_cell(r: dict, col: str) -> str:
    """'0.48 [0.31, 0.70]' with its marks, plus the per-replicate range of a star's replicates."""
    low, high = r[f"ratio_{col}_ci_low"], r[f"ratio_{col}_ci_high"]
    interval = "[n/a]" if np.isnan(low) else f"[{_bound(low)}, {_bound(high)}]"
    text = f"{r[f'ratio_{col}']:.2f} {interval}{_marks(r)}{_df_mark(r, col)}"
    if r["n_star_replicates"] > 1:
        text += f" (replicates {r[f'ratio_{col}_replicate_min']:.2f}–"
        text += f"{r[f'ratio_{col}_replicate_max']:.2f})"
    return text


def _p_cell(p: float) -> str:
    return "–" if np.isnan(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


def _pm(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def _within_cell(r: dict, col: str) -> str:
    """Mean regular-regular barriers within the anchors' recipe / within the held-out recipe
    (the same pairs as the ratio's baseline when the held-out models share the anchors' recipe)."""
    means = [r[f"regular_within_{who}_recipe_{col}_mean"] for who in ("anchors", "heldout")]
    return " / ".join("–" if np.isnan(m) else f"{m:.3f}" for m in means)


def table1_markdown(table: pd.DataFrame) -> str:
    """The paper-style rendering: barriers as mean ± std, ratio [95 % model-level interval], the
    test's p-value, pairs and models, endpoint metrics; marks and their footnotes below."""
    head = (
        "| experiment | star | held-out recipe | train-loss barrier star–held-out "
        "| regular–regular | ratio [95 % CI] | p | within recipes (anchors / held-out) "
        "| test-loss barrier star–held-out | regular–regular | ratio [95 % CI] | p "
        "| pairs (star / regular) | models (held-out / anchors / star seeds) "
        "| train loss star / held-out (Δ) | test acc. (%) star / held-out (Δ) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines, used = [], set()
    for r in table.itertuples(index=False):
        r = r._asdict()
        shortcut = _shortcut(r["eval_shortcuts"])
        cells = [r["experiment"] + (" ˢ" if shortcut else ""), r["star"], r["heldout_recipe"]]
        used |= set(_marks(r)) | ({"ˢ"} if shortcut else set())
        used |= {m for split in SPLITS if (m := _df_mark(r, f"barrier_loss_{split}"))}
        for split in SPLITS:
            col = f"barrier_loss_{split}"
            cells += [
                _pm(r[f"star_heldout_{col}_mean"], r[f"star_heldout_{col}_std"]),
                _pm(r[f"regular_regular_{col}_mean"], r[f"regular_regular_{col}_std"]),
                _ratio_cell(r, col),
                _p_cell(r[f"ratio_{col}_p_value"]),
            ]
            if split == "train":
                cells.append(_within_cell(r, col))
        cells += [
            f"{r['n_star_heldout_pairs']} / {r['n_regular_regular_pairs']}",
            f"{r['n_heldout_models']} / {r['n_pair_anchors']} / {r['n_star_replicates']}",
            f"{r['star_train_loss']:.3f} / {r['regular_train_loss_mean']:.3f} "
            f"({r['star_minus_regular_train_loss']:+.3f})",
            f"{100 * r['star_test_accuracy']:.1f} / {100 * r['regular_test_accuracy_mean']:.1f} "
            f"({100 * r['star_minus_regular_test_accuracy']:+.1f})",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = [
        "\nRatio: mean star–held-out / mean regular–regular barrier, the regular–regular pairs "
        "between the anchors and the row's held-out models (held-out recipe `train`: the anchors' "
        "own; otherwise a held-out group's); within recipes: mean regular–regular train-loss "
        "barrier of pairs within the anchors' recipe / within the held-out recipe. 95 % CI: "
        "model-level interval "
        "(held-out models, anchors and star seeds as random effects, not pairs); p: one-sided "
        "model-level test that star–held-out barriers are lower (log scale); docs/method.md, "
        "section 4. –: no test (a barrier of 0 has no logarithm)."
    ]
    labels = table.drop_duplicates("experiment")[["experiment", "eval_shortcuts"]].values
    named = "; ".join(f"{e}: {label}" for e, label in labels if _shortcut(label))
    for mark, text in MARKS.items():
        if mark in used:
            notes.append(f"{mark} {text}" + (f" {named}." if mark == "ˢ" else ""))
    return head + "\n".join(lines) + "\n" + "\n\n".join(notes) + "\n"
