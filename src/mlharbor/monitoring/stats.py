"""Two-sample statistics on profiles: KS, Wasserstein, chi-square, Jensen–Shannon, PSI.

Each comparison returns the statistic, its p-value and an effect size *corrected for the
sampling noise expected at these sample sizes*. That correction is what keeps the verdict
honest at both ends:

* at large samples a p-value flags differences too small to matter, so a column drifts only
  when the effect size also passes a threshold;
* a fixed distance threshold flags pure sampling noise where the noise is large (a
  5,000-level categorical at 100k rows has an expected Jensen–Shannon distance of ~0.13
  between two samples of *one* distribution), so the expected noise is taken off first.

For numeric columns the noise of the Wasserstein distance has a closed form (the empirical
process converges to a Brownian bridge B, and E|B(t)| = sqrt(2t(1-t)/pi)); for categorical
columns the noise of the Jensen–Shannon divergence is drawn by a parametric bootstrap from
the pooled frequencies, which stays right for sparse, high-cardinality columns where
chi-square approximations do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlharbor.monitoring.pvalues import chi2_sf, kolmogorov_sf, normal_sf

PSI_BINS = 10
PSI_EPS = 1e-4
BOOTSTRAP = 30
MONTE_CARLO = 1999
OTHER = "\x00other"


@dataclass(frozen=True)
class Comparison:
    """A two-sample comparison of one column."""

    method: str
    statistic: float
    p_value: float
    distance: float
    noise: float
    effect: float
    psi: float

    def to_dict(self) -> dict[str, Any]:
        return {k: _round(v) for k, v in self.__dict__.items()}


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.6g}")
    return value


# ---- numeric -----------------------------------------------------------------------------


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending, as ``np.unique`` gives them for the comparisons
    below; ``np.unique`` first checks for masked arrays, which imports ``numpy.ma`` (~10 ms
    of a fresh ``mlharbor drift``)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    distinct: np.ndarray = ordered[keep]
    return distinct


def _cdf(quantiles: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The right-continuous CDF a quantile sketch implies, at points ``x``."""
    q = len(quantiles)
    return np.searchsorted(quantiles, x, side="right") / q


def compare_numeric(ref: dict[str, Any], cur: dict[str, Any], *, small: bool) -> Comparison:
    """KS (small samples) or normed Wasserstein (large) between two numeric sketches.

    Both are computed either way; ``method`` names the one the verdict rests on.
    """
    qa = np.asarray(ref["quantiles"], dtype=np.float64)
    qb = np.asarray(cur["quantiles"], dtype=np.float64)
    n, m = int(ref["n"]), int(cur["n"])
    grid = _distinct(np.concatenate([qa, qb]))
    ks = float(np.max(np.abs(_cdf(qa, grid) - _cdf(qb, grid))))
    p_value = kolmogorov_sf(ks * math.sqrt(n * m / (n + m)))
    scale = _scale(ref, qa)
    # W1 = integral over p of |Qa(p) - Qb(p)|; the sketches share their p grid.
    w1 = float(np.mean(np.abs(qa - qb)))
    # Expected W1 between two samples of the reference distribution.
    p = (np.arange(len(qa)) + 0.5) / len(qa)
    mid = (p[1:] + p[:-1]) / 2
    spread = float(np.sum(np.sqrt(mid * (1 - mid)) * np.diff(qa)))
    noise = math.sqrt(2 / math.pi) * spread * math.sqrt(1 / n + 1 / m)
    distance = w1 / scale
    effect = max(0.0, w1 - noise) / scale
    return Comparison(
        method="ks" if small else "wasserstein",
        statistic=ks if small else distance,
        p_value=p_value,
        distance=distance,
        noise=noise / scale,
        effect=effect,
        psi=numeric_psi(qa, qb),
    )


def _scale(ref: dict[str, Any], qa: np.ndarray) -> float:
    std = float(ref.get("std") or 0.0)
    if std > 0:
        return std
    # A constant reference: any spread of its values counts against the value itself.
    return max(abs(float(qa[len(qa) // 2])), 1.0)


def numeric_psi(qa: np.ndarray, qb: np.ndarray) -> float:
    """PSI over bins at the reference deciles."""
    edges = _distinct(qa[np.linspace(0, len(qa) - 1, PSI_BINS + 1).round().astype(int)][1:-1])
    pa = np.diff(np.concatenate([[0.0], _cdf(qa, edges), [1.0]]))
    pb = np.diff(np.concatenate([[0.0], _cdf(qb, edges), [1.0]]))
    return psi(pa, pb)


def psi(pa: np.ndarray, pb: np.ndarray) -> float:
    """Population stability index of two share vectors (zeros floored at ``PSI_EPS``)."""
    pa = np.maximum(pa, PSI_EPS)
    pb = np.maximum(pb, PSI_EPS)
    return float(np.sum((pb - pa) * np.log(pb / pa)))


def histograms(ref: dict[str, Any], cur: dict[str, Any], bins: int = 20) -> dict[str, Any]:
    """Shares of reference and current in common bins (for charts)."""
    qa = np.asarray(ref["quantiles"], dtype=np.float64)
    qb = np.asarray(cur["quantiles"], dtype=np.float64)
    lo = min(qa[len(qa) // 200], qb[len(qb) // 200])
    hi = max(qa[-1 - len(qa) // 200], qb[-1 - len(qb) // 200])
    if not hi > lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    inner = edges[1:-1]
    # The outer bins hold the tails, so shares sum to one.
    ra = np.diff(np.concatenate([[0.0], _cdf(qa, inner), [1.0]]))
    rb = np.diff(np.concatenate([[0.0], _cdf(qb, inner), [1.0]]))
    return {
        "edges": [_round(float(e)) for e in edges],
        "reference": [_round(float(v)) for v in ra],
        "current": [_round(float(v)) for v in rb],
    }


# ---- categorical -------------------------------------------------------------------------


def aligned_counts(ref: dict[str, Any], cur: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """Counts of both sides over the union of their labels (and one cell for the rest).

    Returns the labels and a ``(2, k)`` array.
    """
    labels = list(ref["counts"])
    seen = set(labels)
    labels += [label for label in cur["counts"] if label not in seen]
    counts = np.zeros((2, len(labels) + 1), dtype=np.float64)
    index = {label: i for i, label in enumerate(labels)}
    for side, profile in enumerate((ref, cur)):
        keys = [index[k] for k in profile["counts"]]
        counts[side, keys] = list(profile["counts"].values())
        counts[side, -1] = profile.get("other", 0)
    if counts[:, -1].sum() == 0:
        counts = counts[:, :-1]
    else:
        labels.append(OTHER)
    return labels, counts


def _jsd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence (natural log, as scipy and Evidently), row-wise."""
    m = (a + b) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = np.where(a > 0, a * np.log(a / m), 0.0)
        tb = np.where(b > 0, b * np.log(b / m), 0.0)
    divergence: np.ndarray = np.clip(0.5 * (ta.sum(axis=-1) + tb.sum(axis=-1)), 0.0, math.log(2))
    return divergence


def compare_categorical(
    counts: np.ndarray, *, small: bool, seed: int = 0, bootstrap: int = BOOTSTRAP
) -> Comparison:
    """Chi-square (small samples) or Jensen–Shannon distance (large) of aligned counts."""
    a, b = counts
    n, m = a.sum(), b.sum()
    pa, pb = a / n, b / m
    pooled = (a + b) / (n + m)
    # multinomial refuses shares whose float sum passes 1 by a rounding error.
    pooled = pooled / (pooled.sum() * (1 + 1e-9))
    divergence = float(_jsd(pa, pb))
    rng = np.random.default_rng(seed)
    null_a = rng.multinomial(int(n), pooled, size=bootstrap) / n
    null_b = rng.multinomial(int(m), pooled, size=bootstrap) / m
    noise = float(np.mean(_jsd(null_a, null_b)))
    chi2, p_value = _chi_square(a, b, seed)
    distance = math.sqrt(divergence)
    return Comparison(
        method="chi_square" if small else "jensen_shannon",
        statistic=chi2 if small else distance,
        p_value=p_value,
        distance=distance,
        noise=math.sqrt(noise),
        effect=math.sqrt(max(0.0, divergence - noise)),
        psi=psi(pa, pb),
    )


def _chi_square(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Chi-square test of homogeneity over every cell, new categories included.

    Where a cell expects fewer than 5 rows the chi-square distribution is a poor guide, so
    the p-value is then drawn by Monte Carlo from the exact conditional null (the reference
    counts as a multivariate hypergeometric draw of the cell totals), as R's
    ``chisq.test(simulate.p.value=TRUE)``. Pooling the rare cells instead, as before, folded
    a small window's every cell, new categories too, into one and reported ``0, p = 1``.
    """
    total = a + b
    keep = total > 0
    a, b, total = a[keep], b[keep], total[keep]
    if len(a) < 2:
        return 0.0, 1.0
    n, m = a.sum(), b.sum()
    chi2 = float(_chi2_statistic(a, total, n, m))
    if (np.minimum(total * n, total * m) / (n + m)).min() >= 5:
        return chi2, chi2_sf(chi2, len(a) - 1)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_hypergeometric(total.astype(np.int64), int(n), size=MONTE_CARLO)
    null = _chi2_statistic(draws, total, n, m)
    # A relative tolerance keeps ties (the observed table itself) counted as ties.
    p_value = (1 + np.count_nonzero(null >= chi2 * (1 - 1e-9))) / (MONTE_CARLO + 1)
    return chi2, float(p_value)


def _chi2_statistic(a: np.ndarray, total: np.ndarray, n: float, m: float) -> np.ndarray:
    """Pearson's statistic of tables whose first row is ``a`` (row-wise for 2-d ``a``)."""
    ea, eb = total * n / (n + m), total * m / (n + m)
    b = total - a
    statistic: np.ndarray = np.sum((a - ea) ** 2 / ea + (b - eb) ** 2 / eb, axis=-1)
    return statistic


def proportion_test(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value that two shares (e.g. of missing values) are equal."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(x1 / n1 - x2 / n2) / se
    return 2 * normal_sf(z)
