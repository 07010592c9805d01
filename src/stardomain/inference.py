"""Model-level inference on Table 1's barrier ratio: an interval and a one-sided test in which the
sampled units are models (held-out models, anchors, star seeds), not pairs.

The pairs of one Table 1 row form two crossed arrays that share their columns:

    regular[i, j]  regular-regular barrier of pair anchor i (K of them) and held-out model j (J),
    star[r, j]     star-held-out barrier of star replicate r (R seeds) and the same held-out model j.

Every anchor appears in J pairs, every held-out model in K + R pairs, every star in J pairs, so
pair barriers are not independent: a lucky star seed lowers a whole row, a hard held-out model
raises a column of both arrays. The ratio of means r = mean(star) / mean(regular) is linearised,
Var(r) ~ Var(mean(star) - r mean(regular)) / mean(regular)^2, and the variance of that contrast
is estimated from the crossed random-effects model (ANOVA mean squares, as for a two-way design
without replication; Searle, Casella & McCulloch 1992, "Variance Components", ch. 4):

    V = MS_heldout / J + max(0, MS_star - MS_star_resid) / (R J)
                       + max(0, MS_anchor - MS_regular_resid) / (K J)

- MS_heldout: variance over held-out models j of the contrast D_j = mean_r star[r, j]
  - r mean_i regular[i, j]. A held-out model's effect on both kinds enters D_j once, so the
  held-out models are resampled jointly for both kinds and their shared part cancels;
- MS_star, MS_anchor: J x variance of the row means (star seeds, pair anchors); MS_*_resid: the
  two-way residual mean square of the same array. Their difference estimates the seed's (the
  anchor's) own variance, floored at 0. It needs R >= 2 (K >= 2): with one star the star's seed
  effect is not estimable and the interval is conditional on that star (likewise one anchor).

The interval is Wald on the log scale, r x exp(+-t SE), SE = sqrt(V) / mean(star) (ratios of
positive, right-skewed barriers), with Student t at Satterthwaite's (1946) degrees of freedom of V:
with 3 to 5 levels per factor V has few degrees of freedom, and normal quantiles under-cover.

The test (`log_test`) asks whether the star-held-out barriers are lower than the regular-regular
ones on the log scale: the same crossed variance, computed on log barriers, for the difference of
mean log barriers (the log ratio of geometric means), against Student t. On the raw scale a
one-sided t-test of 3 to 5 right-skewed values rejects too often in the lower tail (a low mean
comes with a low spread); on the log scale, with one star seed and one anchor, it is the paired
t-test of the J per-held-out log ratios, exact for log-normal pair noise. Coverage and false-positive rates for every shipped design: benchmarks/coverage.py
(docs/method.md, section 4), which also shows why a multi-way bootstrap (resampling rows and
columns, Owen 2007, "The pigeonhole bootstrap") was not used: it under-covers with 3 to 5 levels.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

LEVEL = 0.95  # two-sided interval level
ALPHA = 0.05  # one-sided test level (Table 1 marks p < ALPHA)


def _rows_component(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row variance component of a rows x J array (...: batch): its share of Var(mean) and the two
    Satterthwaite terms (c MS)^2 / df of the mean squares it is built from (0 where floored)."""
    rows, cols = x.shape[-2:]
    row_means, col_means = x.mean(-1), x.mean(-2)
    grand = row_means.mean(-1)
    ms_rows = cols * row_means.var(-1, ddof=1)
    resid = x - row_means[..., :, None] - col_means[..., None, :] + grand[..., None, None]
    df_resid = (rows - 1) * (cols - 1)
    ms_resid = (resid**2).sum((-2, -1)) / df_resid
    scale = 1.0 / (rows * cols)
    positive = ms_rows > ms_resid
    share = np.where(positive, scale * (ms_rows - ms_resid), 0.0)
    terms = (scale * ms_rows) ** 2 / (rows - 1) + (scale * ms_resid) ** 2 / df_resid
    return share, np.where(positive, terms, 0.0)


def contrast_variance(
    star: np.ndarray, regular: np.ndarray, ratio: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Variance V of mean(star) - ratio mean(regular) over models, and its Satterthwaite df.

    star: (..., R, J) barriers (nats) of R star replicates x J held-out models; regular:
    (..., K, J) of K pair anchors x the same J held-out models; ratio: (...,). Needs J >= 2 (else
    V and df are NaN); the star (anchor) component is left out when R = 1 (K = 1).
    """
    star, regular = np.asarray(star, float), np.asarray(regular, float)
    ratio = np.asarray(ratio, float)
    held = star.shape[-1]
    if held < 2:
        nan = np.full(np.shape(ratio), np.nan)
        return nan, nan
    scaled = ratio[..., None, None] * regular
    contrast = star.mean(-2) - scaled.mean(-2)  # (..., J): one value per held-out model
    variance = contrast.var(-1, ddof=1) / held
    terms = variance**2 / (held - 1)
    for array in (star, scaled):
        if array.shape[-2] >= 2:
            share, extra = _rows_component(array)
            variance, terms = variance + share, terms + extra
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(terms > 0, variance**2 / terms, np.inf)
    return variance, df


def ratio_interval(star: np.ndarray, regular: np.ndarray, level: float = LEVEL) -> dict:
    """Ratio of mean barriers and its model-level interval.

    star: (..., R, J), regular: (..., K, J) as in `contrast_variance` (barriers >= 0, nats).
    Returns arrays (shape ...): ratio = mean(star) / mean(regular), low and high (the `level`
    interval: ratio x exp(+-t SE), SE = sqrt(V) / mean(star)), df (Satterthwaite). NaN where
    J < 2 or every star barrier is 0; zero width where V = 0 (no spread at all).
    """
    star, regular = np.asarray(star, float), np.asarray(regular, float)
    star_mean = star.mean((-2, -1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = star_mean / regular.mean((-2, -1))
        variance, df = contrast_variance(star, regular, ratio)
        se_log = np.where(star_mean > 0, np.sqrt(variance) / star_mean, np.nan)
        spread = np.exp(stats.t.ppf(0.5 + level / 2, df) * se_log)
        low, high = ratio / spread, ratio * spread
    exact = variance == 0
    return dict(
        ratio=ratio, low=np.where(exact, ratio, low), high=np.where(exact, ratio, high), df=df
    )


def log_test(star: np.ndarray, regular: np.ndarray) -> dict:
    """One-sided model-level test of H0: the star-held-out barriers are not below the
    regular-regular ones, on the log scale (geometric means).

    star: (..., R, J), regular: (..., K, J) barriers (nats). The same crossed variance as
    `contrast_variance`, on log barriers with ratio 1: D_j = mean_r log star[r, j] - mean_i log
    regular[i, j]. Statistic T = (mean log star - mean log regular) / sqrt(V); p = F_t(T) at
    Satterthwaite's df (small p: the star's barriers are lower). With one star seed and one anchor
    it is the paired t-test of the J log ratios (J - 1 df), exact for log-normal pair noise.
    Returns arrays: p_value, statistic, df, log_ratio (of geometric means); NaN where a barrier is 0
    (no logarithm) or J < 2.
    """
    star, regular = np.asarray(star, float), np.asarray(regular, float)
    positive = (star > 0).all((-2, -1)) & (regular > 0).all((-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y = np.log(np.where(star > 0, star, 1.0)), np.log(np.where(regular > 0, regular, 1.0))
        log_ratio = x.mean((-2, -1)) - y.mean((-2, -1))
        variance, df = contrast_variance(x, y, np.ones(np.shape(log_ratio)))
        statistic = log_ratio / np.sqrt(variance)
        p_value = stats.t.cdf(statistic, df)
    exact = variance == 0  # no spread at all: the test is decided by the sign
    p_value = np.where(exact, np.where(log_ratio < 0, 0.0, 1.0), p_value)
    nan = np.where(positive, 1.0, np.nan)
    return dict(p_value=p_value * nan, statistic=statistic * nan, df=df * nan,
                log_ratio=log_ratio * nan)  # fmt: skip
