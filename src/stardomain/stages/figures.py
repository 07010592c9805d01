"""Stages of workflow/rules/figures.smk: CSV files in, CSV / Markdown / PDF / PNG files out.

Every figure is drawn from CSV files only, and every figure writes the numbers it draws as a CSV
beside it. `style` is the config's `figures.style`; it reaches only the drawing functions. Every
table and figure says which experiments were evaluated with shortcuts (`summary.eval_shortcuts`,
read from the design CSVs): a column, a mark in Markdown, a note above the figure.
"""

from __future__ import annotations

import pandas as pd

from stardomain import design, plots, summary, table1
from stardomain.io import atomic_path
from stardomain.settings import ModelSettings, PlotStyle, StarSettings


def _read(paths: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def _write_csv(table: pd.DataFrame, path: str) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def _write_text(text: str, path: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _pm(
    table: pd.DataFrame, column: str, scale: float = 1.0, digits: int = 3, count: str | None = None
) -> pd.Series:
    """'mean ± std' strings of `<column>_mean` and `<column>_std` (the mean alone where the
    `count` column says it is one value)."""
    mean, std = scale * table[f"{column}_mean"], scale * table[f"{column}_std"]
    single = table[count] == 1 if count else pd.Series(False, index=table.index)
    return pd.Series(
        [
            f"{m:.{digits}f}" if one else f"{m:.{digits}f} ± {s:.{digits}f}"
            for m, s, one in zip(mean, std, single, strict=True)
        ]
    )


def _shortcuts(designs: pd.DataFrame, keys=summary.EVAL_SHORTCUTS) -> dict[str, str]:
    """experiment -> `summary.shortcut_label` of the shortcuts among `keys` it was evaluated with."""
    first = designs.drop_duplicates("experiment")
    return {
        row["experiment"]: summary.shortcut_label(
            {k: int(row[f"eval_{k}"]) for k in keys if pd.notna(row.get(f"eval_{k}"))}
        )
        for _, row in first.iterrows()
    }


def _marks(table: pd.DataFrame) -> pd.Series:
    """' ˢ' for the rows of `table` whose `eval_shortcuts` names shortcuts, else ''."""
    used = table["eval_shortcuts"].fillna("none") != "none"
    return used.map({True: f" {plots.SHORTCUT_MARK}", False: ""})


def write_design(
    out_csv: str,
    name: str,
    stars: dict[str, StarSettings],
    replicate_of: dict[str, str],
    model: ModelSettings,
    n_heldout: int,
    shortcuts: dict[str, int],
) -> None:
    """results/<exp>/design.csv: what each star of the experiment is and the experiment's
    evaluation shortcuts (see `summary.design_table`)."""
    table = summary.design_table(name, stars, replicate_of, model, n_heldout, shortcuts)
    _write_csv(table, out_csv)


def write_table1(
    barrier_paths: list[str], design_paths: list[str], out_csv: str, out_md: str
) -> None:
    """Table 1 (train) and Table 3 (test loss) from experiment barrier CSVs (and design CSVs, which
    say which stars are replicates of one another and which shortcuts the curves used)."""
    table = table1.table1(_read(barrier_paths), _read(design_paths))
    _write_csv(table, out_csv)
    _write_text(table1.table1_markdown(table), out_md)


def write_fig2(
    curve_paths: list[str],
    design_paths: list[str],
    out_paths: list[str],
    style: PlotStyle,
    stars=None,
) -> None:
    """Figure 2 from experiment curve CSVs; the design CSVs say which used evaluation shortcuts.
    Only pairs of models of the experiment's own recipe: held-out groups are Table 1's rows."""
    shortcuts = _shortcuts(_read(design_paths))
    curves = summary.with_recipes(_read(curve_paths))
    own = (curves["recipe_a"] == design.MAIN_RECIPE) & (curves["recipe_b"] == design.MAIN_RECIPE)
    plots.fig2(curves[own], out_paths, style, stars, shortcuts=shortcuts)


def _stars(barrier_paths: list[str], design_paths: list[str]) -> pd.DataFrame:
    return summary.star_barriers(_read(barrier_paths), _read(design_paths))


def write_n_anchors(
    barrier_paths: list[str],
    design_paths: list[str],
    experiment: str,
    stars: list[str],
    out_csv: str,
    out_paths: list[str],
    style: PlotStyle,
) -> None:
    """Barrier vs number of anchors N: the plotted table (CSV) and the figure."""
    table = summary.select_stars(_stars(barrier_paths, design_paths), experiment, stars)
    table = table.sort_values("n_anchors")
    _write_csv(table, out_csv)
    plots.fig_n_anchors(table, out_paths, style)


def write_t_sampling(
    barrier_paths: list[str],
    design_paths: list[str],
    experiment: str,
    stars: list[str],
    out_csv: str,
    out_md: str,
) -> None:
    """t-sampling table: star-held-out barriers and the star's own loss and accuracy per scheme."""
    table = summary.select_stars(_stars(barrier_paths, design_paths), experiment, stars)
    table["ratio_barrier_loss_train"] = (
        table["star_barrier_loss_train_mean"] / table["regular_barrier_loss_train_mean"]
    )
    _write_csv(table, out_csv)
    shown = pd.DataFrame(
        {
            "star": table["star"] + _marks(table),
            "t": table["t_label"],
            "N": table["n_anchors"],
            "train": _pm(table, "star_barrier_loss_train"),
            "test": _pm(table, "star_barrier_loss_test"),
            "ratio": [f"{v:.2f}" for v in table["ratio_barrier_loss_train"]],
            "loss": table["star_train_loss"],
            "acc": [f"{100 * v:.1f}" for v in table["star_test_accuracy"]],
        }
    )
    headers = {
        "star": "star",
        "t": "t sampling",
        "N": "N",
        "train": "train-loss barrier star–held-out (nats)",
        "test": "test-loss barrier (nats)",
        "ratio": "ratio to regular–regular (train)",
        "loss": "star train loss (nats)",
        "acc": "star test acc. (%)",
    }
    reference = _pm(table.iloc[:1], "regular_barrier_loss_train").iloc[0]
    note = f"\nregular–regular train-loss barrier (permuted): {reference} nats\n"
    shortcut = plots.table_note(table)
    note += f"\n{shortcut}\n" if shortcut else ""
    _write_text(summary.markdown(shown, headers) + note, out_md)


def write_width_depth(
    barrier_paths: list[str],
    design_paths: list[str],
    width: list[str],
    depth: list[str],
    out_csv: str,
    out_paths: list[str],
    style: PlotStyle,
) -> None:
    """Barrier vs width and depth and the star vs regular scatter; the CSV has one row per point
    and the fitted slope in column `fit_slope`."""
    table = summary.sweep_table(_stars(barrier_paths, design_paths), width, depth)
    slope = plots.fig_width_depth(table, out_paths, style)
    _write_csv(table.assign(fit_slope=slope), out_csv)


def write_ensemble(
    metric_paths: list[str],
    design_paths: list[str],
    out_csv: str,
    out_md: str,
    out_paths: list[str],
    style: PlotStyle,
) -> None:
    """Ensemble / BMA comparison: summary table (CSV, Markdown) and the bar figure. Of the
    evaluation shortcuts only `eval.bn_batches` reaches it (BMA's BN re-estimation)."""
    table = summary.ensemble_summary(_read(metric_paths))
    shortcuts = _shortcuts(_read(design_paths), keys=("bn_batches",))
    table["eval_shortcuts"] = table["experiment"].map(shortcuts).fillna("none")
    _write_csv(table, out_csv)
    shown = pd.DataFrame(
        {
            "experiment": table["experiment"] + _marks(table),
            "method": table["method"],
            "star": table["star"],
            "models": table["models"],
            "members": table["members"],
            "acc": _pm(table, "accuracy", 100, 1, "models"),
            "nll": _pm(table, "nll", count="models"),
            "ece": _pm(table, "ece", 100, 2, "models"),
            "auroc": _pm(table, "auroc_misclassification", count="models"),
        }
    )
    headers = {
        "experiment": "experiment",
        "method": "method",
        "star": "star",
        "models": "models (mean ± std over)",
        "members": "models averaged",
        "acc": "test acc. (%)",
        "nll": "test NLL (nats)",
        "ece": "ECE (%)",
        "auroc": "misclassification AUROC",
    }
    note = plots.shortcut_note(shortcuts)
    _write_text(summary.markdown(shown, headers) + (f"\n{note}\n" if note else ""), out_md)
    plots.fig_ensemble(table, out_paths, style, shortcuts)
