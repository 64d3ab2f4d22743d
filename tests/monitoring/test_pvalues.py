"""The drift tests' p-values, computed without SciPy, agree with SciPy's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from mlharbor.monitoring.pvalues import chi2_sf, gamma_q, kolmogorov_sf, normal_sf


def shown(value: float) -> float:
    """A p-value as a report shows it (six significant digits)."""
    return float(f"{value:.6g}")


def test_kolmogorov_matches_scipy_on_both_sides_of_the_cut_over() -> None:
    for x in [*np.linspace(0.001, 8, 3001), 0.0406, 0.82, 0.8200001, 40.0]:
        assert kolmogorov_sf(float(x)) == pytest.approx(special.kolmogorov(x), rel=1e-13, abs=0)
    assert kolmogorov_sf(0.0) == 1.0
    assert kolmogorov_sf(-1.0) == 1.0
    assert math.isnan(kolmogorov_sf(math.nan))


@pytest.mark.parametrize("df", [1, 2, 3, 7, 19, 20, 21, 50, 199, 200, 201, 999, 5_000, 12_000])
def test_chi_square_matches_scipy_from_the_bulk_to_the_far_tail(df: int) -> None:
    rng = np.random.default_rng(df)
    ratios = np.r_[rng.uniform(0.01, 4, 60), rng.uniform(0.95, 1.05, 30), 1e-6, 10.0, 30.0]
    for x in (df * ratios).tolist():
        expected = float(special.chdtrc(df, x))
        got = chi2_sf(x, df)
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-300)
        assert shown(got) == shown(expected)


def test_chi_square_edges() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-2.0, 3) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0
    assert chi2_sf(1e6, 1) == 0.0  # underflows to 0, as SciPy's does
    assert math.isnan(chi2_sf(1.0, 0))
    assert gamma_q(0.5, 2.0) == pytest.approx(math.erfc(math.sqrt(2.0)), rel=1e-14)


def test_normal_tail_matches_scipy() -> None:
    for z in np.linspace(0, 38, 2001):
        expected = 2 * float(special.ndtr(-z))
        assert 2 * normal_sf(float(z)) == pytest.approx(expected, rel=1e-12, abs=1e-300)
