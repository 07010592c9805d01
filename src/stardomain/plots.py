"""Figures from CSV files only (plotting never loads a model).

- `fig2`: loss and accuracy along t, mean with a ±1 std band over pairs, one line per pair kind (the
  paper's Figure 2).
- `fig_n_anchors`: star-held-out barrier vs the number of anchors N (the paper's N ablation).
- `fig_width_depth`: barriers vs width and vs depth, and star vs regular-regular barrier with a line
  through the origin fitted by least squares (the paper's width/depth figure: star ~ 0.31 x regular).
- `fig_ensemble`: accuracy, ECE and misclassification AUROC of a single model, the star, the anchors'
  deep ensemble and BMA over the star domain.
Drawn with seaborn (its `whitegrid` style; curves with `sns.lineplot`, mean and ±1 std band over
pairs). Every pair kind has one colour of seaborn's colour-blind palette (`PALETTE`) in every figure;
lines also differ in dash and marker, so every figure survives greyscale. `style` is the config's
`figures.style` (stardomain.settings.PlotStyle: dpi, font size). A figure with an experiment evaluated with shortcuts
(`summary.eval_shortcuts`) says so in a note above it (`shortcut_note`), and fig2 marks its panels.
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from stardomain.io import atomic_path
from stardomain.settings import PlotStyle

KINDS = {  # (kind, alignment) -> label, dash, marker
    ("regular-regular", "naive"): ("regular–regular (naive)", (0, (1, 1)), "x"),
    ("regular-regular", "permuted"): ("regular–regular (permuted)", "--", "s"),
    ("star-heldout", "naive"): ("star–held-out (naive)", (0, (3, 1, 1, 1)), "v"),
    ("star-heldout", "permuted"): ("star–held-out (permuted)", "-", "o"),
    ("star-anchor", "permuted"): ("star–anchor (permuted)", "-.", "^"),
}
# one colour per pair kind, the same in every figure (seaborn's colour-blind palette)
PALETTE = dict(zip(KINDS, sns.color_palette("colorblind", len(KINDS)).as_hex(), strict=True))
METRICS = {"loss": "cross-entropy loss (nats)", "accuracy": "accuracy (%)"}
STAR = dict(color=PALETTE["star-heldout", "permuted"], linestyle="-", marker="o",
            label="star–held-out (permuted)")  # fmt: skip
REGULAR = dict(color=PALETTE["regular-regular", "permuted"], linestyle="--", marker="s",
               label="regular–regular (permuted)")  # fmt: skip
BARRIER = {"train": "train-loss barrier (nats)", "test": "test-loss barrier (nats)"}


SHORTCUT_MARK = "ˢ"


def shortcut_note(shortcuts: dict[str, str]) -> str:
    """Note naming the experiments evaluated with shortcuts (experiment -> `summary.shortcut_label`,
    'none' for the full protocol); '' when every experiment used the paper's full protocol."""
    used = [f"{e}: {label}" for e, label in shortcuts.items() if label != "none"]
    if not used:
        return ""
    return (
        f"{SHORTCUT_MARK} evaluated with shortcuts, not the paper's full protocol — "
        + "; ".join(used)
    )


@contextlib.contextmanager
def figure(
    out_paths: list[str], style: PlotStyle, *args, note: str = "", **kwargs
) -> Iterator[tuple]:
    """`plt.subplots(*args, **kwargs)` in the configured style; saves to every path on exit, with
    `note` (if any) printed above the axes (the saved figure grows to hold it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    theme = {**sns.axes_style("whitegrid"), "font.size": style.font_size}
    with plt.rc_context(theme):
        fig, axes = plt.subplots(*args, squeeze=False, **kwargs)
        try:
            yield fig, axes
            if note:
                # above the titles: the legends of fig2 and fig_ensemble sit under the axes
                text = textwrap.fill(note, int(12 * fig.get_figwidth()))  # ~12 characters per inch
                fig.text(0.5, 1.01, text, ha="center", va="bottom", fontsize="small")
            for path in out_paths:
                with atomic_path(path) as tmp:
                    fig.savefig(tmp, dpi=style.dpi, format=Path(path).suffix.lstrip("."),
                                bbox_inches="tight" if note else None)  # fmt: skip
        finally:
            plt.close(fig)


def table_note(table: pd.DataFrame) -> str:
    """`shortcut_note` of a table with columns experiment and eval_shortcuts (design CSV columns)."""
    if "eval_shortcuts" not in table:
        return ""
    labels = table["eval_shortcuts"].fillna("none")
    return shortcut_note(dict(zip(table["experiment"], labels, strict=True)))


def _legend_below(fig, handles: list, labels: list[str], ncol: int) -> float:
    """A legend under the panels, in as many columns (at most `ncol`) as fit the figure's width,
    so that no label is cut at the figure's edges; returns the fraction of the figure's height it
    takes (the bottom of tight_layout's rect)."""
    renderer = fig.canvas.get_renderer()
    for n in range(min(ncol, len(labels)), 0, -1):
        legend = fig.legend(handles, labels, loc="lower center", ncol=n, frameon=False)
        box = legend.get_window_extent(renderer)
        if box.width <= 0.98 * fig.bbox.width or n == 1:
            break
        legend.remove()
    return (box.y1 - fig.bbox.y0) / fig.bbox.height + 0.01


def fig2(
    curves: pd.DataFrame, out_paths: list[str], style: PlotStyle, stars=None, shortcuts=None
) -> None:
    """Figure 2 for every experiment in `curves`; `stars` (names) limits the star lines drawn;
    `shortcuts` (experiment -> label) marks the panels of experiments evaluated with shortcuts."""
    shortcuts = shortcuts or {}
    curves = curves.assign(accuracy=100 * curves["accuracy"])
    if stars is not None:
        keep = {f"star-{s}" for s in stars}
        curves = curves[(curves["kind"] == "regular-regular") | curves["a"].isin(keep)]
    panels = [(e, s) for e in sorted(curves["experiment"].unique()) for s in ("train", "test")]
    size = (3.2 * len(panels), 5.2)
    note = shortcut_note(shortcuts)
    with figure(out_paths, style, len(METRICS), len(panels), figsize=size, note=note) as (
        fig,
        axes,
    ):
        for col, (exp, split) in enumerate(panels):
            part = curves[(curves["experiment"] == exp) & (curves["split"] == split)]
            names = sorted(part.loc[part["kind"] != "regular-regular", "a"].unique())
            for row, (metric, ylabel) in enumerate(METRICS.items()):
                ax = axes[row][col]
                for (kind, alignment), (label, dash, marker) in KINDS.items():
                    sel = part[(part["kind"] == kind) & (part["alignment"] == alignment)]
                    for star in names if kind != "regular-regular" else [None]:
                        lines = sel if star is None else sel[sel["a"] == star]
                        if lines.empty:
                            continue
                        name = label if star is None or len(names) == 1 else f"{label} {star}"
                        # mean over pairs at each t, band: ±1 std (pandas' n-1 normalisation)
                        sns.lineplot(lines, x="t", y=metric, errorbar="sd", ax=ax, label=name,
                                     color=PALETTE[kind, alignment], linestyle=dash,
                                     marker=marker, markersize=3, err_kws={"alpha": 0.15},
                                     legend=False)  # fmt: skip
                ax.set_xlabel("interpolation coefficient t")
                ax.set_ylabel(ylabel)
                if row == 0:
                    mark = f" {SHORTCUT_MARK}" if shortcuts.get(exp, "none") != "none" else ""
                    ax.set_title(f"{exp}{mark} — {split} split")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.tight_layout(rect=(0, _legend_below(fig, handles, labels, 3), 1, 1))


def _errorbar(ax, x, table: pd.DataFrame, who: str, split: str, line: dict) -> None:
    col = f"{who}_barrier_loss_{split}"
    ax.errorbar(x, table[f"{col}_mean"], yerr=table[f"{col}_std"], capsize=3, **line)


def fig_n_anchors(table: pd.DataFrame, out_paths: list[str], style: PlotStyle) -> None:
    """Star-held-out barrier (mean ± std over held-out models) vs N; regular-regular as reference.

    table: rows of `summary.star_barriers` for one experiment (columns n_anchors, star_*, regular_*).
    """
    table = table.sort_values("n_anchors")
    n = table["n_anchors"].to_numpy()
    with figure(out_paths, style, 1, 2, figsize=(7.0, 3.2), note=table_note(table)) as (fig, axes):
        for ax, split in zip(axes[0], ("train", "test"), strict=True):
            _errorbar(ax, n, table, "star", split, STAR)
            col = f"regular_barrier_loss_{split}"
            mean, std = table[f"{col}_mean"].iloc[0], table[f"{col}_std"].iloc[0]
            ax.axhline(mean, **{k: REGULAR[k] for k in ("color", "linestyle", "label")})
            ax.axhspan(mean - std, mean + std, color=REGULAR["color"], alpha=0.12)
            ax.set_xscale("log")
            ax.set_xticks(n, [str(v) for v in n])
            ax.minorticks_off()
            star = (
                table[f"star_barrier_loss_{split}_mean"] + table[f"star_barrier_loss_{split}_std"]
            )
            ax.set_ylim(0, 1.1 * max(mean + std, star.max()))
            ax.set_xlabel("number of anchors N (models)")
            ax.set_ylabel(BARRIER[split])
            mark = f" {SHORTCUT_MARK}" if table_note(table) else ""
            ax.set_title(f"{table['experiment'].iloc[0]}{mark} — {split} split")
        axes[0][0].legend(frameon=False)
        fig.tight_layout()


def fit_through_origin(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope k of y = k x (minimises sum (y - k x)^2): sum(x y) / sum(x^2)."""
    return float(np.dot(x, y) / np.dot(x, x))


def fig_width_depth(sweep: pd.DataFrame, out_paths: list[str], style: PlotStyle) -> float:
    """Barriers vs width and vs depth (train split) and the star vs regular scatter with its fit.

    sweep: `summary.sweep_table` rows. Returns the fitted slope (star barrier per regular barrier).
    """
    parts = [(s, sweep[sweep["sweep"] == s]) for s in ("width", "depth")]
    parts = [(s, p.sort_values(s)) for s, p in parts if not p.empty]
    size = (3.4 * (len(parts) + 1), 3.3)
    with figure(out_paths, style, 1, len(parts) + 1, figsize=size, note=table_note(sweep)) as (
        fig,
        axes,
    ):
        for ax, (name, part) in zip(axes[0], parts, strict=False):
            x = part[name].to_numpy()
            for who, line in (("regular", REGULAR), ("star", STAR)):
                _errorbar(ax, x, part, who, "train", line)
            if name == "width":
                ax.set_xscale("log", base=2)
            ax.set_xticks(x, [str(v) for v in x])
            ax.minorticks_off()
            ax.set_ylim(bottom=0)
            unit = "hidden units per layer" if name == "width" else "hidden layers"
            ax.set_xlabel(f"{name} ({unit})")
            ax.set_ylabel(BARRIER["train"])
            ax.legend(frameon=False)
        ax = axes[0][-1]
        points = sweep.drop_duplicates("experiment")
        x = points["regular_barrier_loss_train_mean"].to_numpy()
        y = points["star_barrier_loss_train_mean"].to_numpy()
        slope = fit_through_origin(x, y)
        for name, marker in (("width", "o"), ("depth", "s")):
            sel = sweep[sweep["sweep"] == name]
            ax.scatter(
                sel["regular_barrier_loss_train_mean"],
                sel["star_barrier_loss_train_mean"],
                marker=marker,
                facecolors="none" if name == "depth" else "#444444",
                edgecolors="#000000",
                label=f"{name} sweep",
                zorder=3,
            )
        for _, r in points.iterrows():
            ax.annotate(f"w{r['width']} d{r['depth']}", (r["regular_barrier_loss_train_mean"],
                        r["star_barrier_loss_train_mean"]), fontsize="x-small",
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        top = 1.1 * max(x.max(), y.max())
        grid = np.array([0.0, top])
        ax.plot(grid, grid, color="#999999", linestyle=":", label="star = regular")
        ax.plot(
            grid,
            slope * grid,
            color="#000000",
            linestyle="-",
            label=f"fit: star = {slope:.2f} × regular",
        )
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("regular–regular barrier (nats)")
        ax.set_ylabel("star–held-out barrier (nats)")
        ax.legend(frameon=False, fontsize="small")
        fig.tight_layout()
    return slope


ENSEMBLE = {  # method -> label, marker, fill
    "single": ("single regular model (mean ± std)", "o", "#ffffff"),
    "star": ("star model", "^", "#999999"),
    "ensemble": ("deep ensemble of the anchors", "s", "#555555"),
    "bma": ("BMA over the star domain", "D", "#000000"),
}
SCORES = {
    "accuracy": ("test accuracy (%)", 100),
    "ece": ("expected calibration error (%)", 100),
    "auroc_misclassification": ("misclassification AUROC", 1),
}


def fig_ensemble(
    summary: pd.DataFrame, out_paths: list[str], style: PlotStyle, shortcuts=None
) -> None:
    """One marker per method (std bar over held-out models for `single`), one group per
    (experiment, star); summary: `summary.ensemble_summary` rows. Markers, not bars: the axes are
    zoomed in on small differences. `shortcuts`: experiment -> label, noted above the figure."""
    stars = summary[summary["method"] != "single"][["experiment", "star"]].drop_duplicates()
    groups = list(stars.itertuples(index=False))
    step = 0.6 / (len(ENSEMBLE) - 1)
    size, note = (3.2 * len(SCORES), 3.4), shortcut_note(shortcuts or {})
    with figure(out_paths, style, 1, len(SCORES), figsize=size, note=note) as (fig, axes):
        for ax, (score, (label, scale)) in zip(axes[0], SCORES.items(), strict=True):
            for j, (method, (name, marker, fill)) in enumerate(ENSEMBLE.items()):
                for i, g in enumerate(groups):
                    star = "" if method == "single" else g.star
                    sel = summary[(summary["experiment"] == g.experiment)
                                  & (summary["method"] == method) & (summary["star"] == star)]  # fmt: skip
                    ax.errorbar(i - 0.3 + j * step, scale * sel[f"{score}_mean"].iloc[0],
                                yerr=scale * sel[f"{score}_std"].iloc[0], marker=marker,
                                markersize=7, markerfacecolor=fill, color="#000000", capsize=3,
                                linestyle="none", label=name if i == 0 else None)  # fmt: skip
            ax.set_xticks(range(len(groups)), [f"{g.experiment}\n{g.star}" for g in groups])
            ax.set_xlim(-0.6, len(groups) - 0.4)
            ax.set_ylabel(label)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.tight_layout(rect=(0, _legend_below(fig, handles, labels, len(ENSEMBLE)), 1, 1))
