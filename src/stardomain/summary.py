"""Tables from CSV files behind the ablation figures (barrier vs N, vs width and depth, t sampling,
ensembles); the paper's Table 1 and Table 3 are `stardomain.table1`.

The ablation tables join the barriers with `design`, a table of what each star and experiment is
(number of anchors, t sampling, width, depth, the evaluation shortcuts of its curves) written from
the config.
"""

from __future__ import annotations

import pandas as pd

from stardomain import design
from stardomain.settings import EvalSettings, ModelSettings, StarSettings

KINDS = ("regular-regular", "star-heldout", "star-anchor")
# `eval:` keys that shortcut the paper's evaluation protocol when set (null: the full protocol)
EVAL_SHORTCUTS = ("train_subset", "test_subset", "bn_batches")


def eval_shortcuts(evaluation: EvalSettings) -> dict[str, int]:
    """The evaluation shortcuts an experiment's `eval:` sets: {key: value} of EVAL_SHORTCUTS."""
    values = {k: getattr(evaluation, k) for k in EVAL_SHORTCUTS}
    return {k: v for k, v in values.items() if v is not None}


def shortcut_label(shortcuts: dict[str, int]) -> str:
    """'train_subset=5000, bn_batches=20', or 'none' for the paper's full protocol."""
    return ", ".join(f"{k}={v}" for k, v in shortcuts.items()) or "none"


def _stats(values: pd.Series) -> tuple[float, float, int]:
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values)


def design_table(
    name: str,
    stars: dict[str, StarSettings],
    replicate_of: dict[str, str],
    model: ModelSettings,
    n_heldout: int,
    shortcuts: dict[str, int] | None = None,
) -> pd.DataFrame:
    """One row per star (name -> its settings, `design.star_settings`): what it is, which star it
    is a replicate of (`replicate_of`, itself where absent), the model it shares and the
    evaluation shortcuts (`eval_shortcuts`) of the experiment's curves, as `shortcut_label`."""
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
                **{f"eval_{k}": (shortcuts or {}).get(k) for k in EVAL_SHORTCUTS},
                eval_shortcuts=shortcut_label(shortcuts or {}),
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


def with_recipes(barriers: pd.DataFrame) -> pd.DataFrame:
    """`barriers` with the recipe of each side (barrier CSVs written before recipes were recorded
    hold only the experiment's own: `design.MAIN_RECIPE`)."""
    out = barriers.copy()
    for side in ("a", "b"):
        if f"recipe_{side}" not in out:
            out[f"recipe_{side}"] = design.MAIN_RECIPE
    return out


def star_barriers(barriers: pd.DataFrame, designs: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, star): permuted star-held-out barriers (mean, std, pairs), the star's own
    train/test loss and test accuracy, the experiment's regular-regular barriers, and its design.
    Only models of the experiment's own recipe: held-out groups are Table 1's."""
    rows = []
    permuted = with_recipes(barriers[barriers["alignment"] == "permuted"])
    own = (permuted["recipe_a"] == design.MAIN_RECIPE) & (
        permuted["recipe_b"] == design.MAIN_RECIPE
    )
    permuted = permuted[own]
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
