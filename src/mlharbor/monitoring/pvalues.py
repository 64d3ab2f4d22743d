"""P-values of the drift tests from closed forms and series, with no SciPy to import.

``scipy.special`` costs about 0.3 s to import, a fifth of a whole ``mlharbor drift``
command, for three functions of one number each:

* :func:`kolmogorov_sf`, the survival function of the Kolmogorov distribution (the KS
  test's asymptotic p-value), from its two theta-function series (van Mulbregt 2018,
  arXiv:1803.00426), as ``scipy.special.kolmogorov``;
* :func:`chi2_sf`, the chi-square survival function, which is the regularised upper
  incomplete gamma function Q(k/2, x/2): its power series below x = a + 1 and its continued
  fraction above, as ``scipy.special.chdtrc``;
* :func:`normal_sf`, from ``math.erfc``, as ``scipy.special.ndtr(-z)``.

Each agrees with SciPy to about 1e-13 relative (``tests/monitoring/test_pvalues.py`` checks
it on a grid), far below the six significant digits a report shows.
"""

from __future__ import annotations

import math

#: Below this the Kolmogorov CDF underflows to 0 (``exp`` of less than -746).
_KS_ZERO = math.pi / math.sqrt(746 * 8)
#: Where the series in exp(-pi^2/(8x^2)) gives way to the one in exp(-2x^2).
_KS_CUTOVER = 0.82
_EPS = 2.0**-53
_TINY = 1e-300
#: exp() of less than this underflows; SciPy's incomplete gamma returns 0 there.
_MIN_LOG = -709.782712893384
_MAX_TERMS = 100_000


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution K (the limit of sqrt(n) D_n)."""
    if math.isnan(x):
        return math.nan
    if x <= _KS_ZERO:
        return 1.0
    if x <= _KS_CUTOVER:
        # K(x) = sqrt(2 pi)/x * (u + u^9 + u^25 + ...), u = exp(-pi^2/(8 x^2)): three terms
        # past the first reach double precision below the cut-over.
        w = math.sqrt(2 * math.pi) / x
        log_u8 = -math.pi * math.pi / (x * x)
        u = math.exp(log_u8 / 8)
        if u == 0:
            cdf = math.exp(log_u8 / 8 + math.log(w))
        else:
            u8 = math.exp(log_u8)
            cdf = w * u * (1 + u8 * (1 + u8 * u8 * (1 + math.pow(u8, 3))))
        sf = 1 - cdf
    else:
        # P(K > x) = 2 (v - v^4 + v^9 - v^16 + ...), v = exp(-2 x^2), in Horner form.
        v = math.exp(-2 * x * x)
        v3 = math.pow(v, 3)
        inner = 1 - v3 * v3 * v
        inner = 1 - v3 * (v * v) * inner
        inner = 1 - v3 * inner
        sf = 2 * v * inner
    return min(max(sf, 0.0), 1.0)


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for X chi-square distributed with ``df`` degrees of freedom."""
    if math.isnan(x) or math.isnan(df) or df <= 0:
        return math.nan
    if x <= 0:
        return 1.0
    return gamma_q(df / 2, x / 2)


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def gamma_q(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function Q(a, x) (``a > 0``)."""
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    log_factor = _log_gamma_factor(a, x)
    if x < a + 1:
        if log_factor < _MIN_LOG:
            return 1.0
        return max(0.0, 1.0 - _lower_series(a, x) * math.exp(log_factor))
    if log_factor < _MIN_LOG:
        return 0.0
    return _upper_fraction(a, x) * math.exp(log_factor)


def _log_gamma_factor(a: float, x: float) -> float:
    """log(x^a e^-x / Gamma(a)), without the cancellation of its terms at large ``a``."""
    if a < 10:
        return a * math.log(x) - x - math.lgamma(a)
    # With Stirling's lgamma(a) = (a - 1/2) log a - a + log(2 pi)/2 + s(a), the large terms
    # cancel exactly: a (log1p(t) - t) + log(a / (2 pi))/2 - s(a), t = (x - a)/a.
    return a * _log1pmx((x - a) / a) + 0.5 * math.log(a / (2 * math.pi)) - _stirling(a)


def _stirling(a: float) -> float:
    """lgamma(a) - ((a - 1/2) log a - a + log(2 pi)/2), for a >= 10 (error below 1e-16)."""
    r = 1 / a
    r2 = r * r
    series = 1 / 156 + r2 * (-3617 / 122400)
    series = -691 / 360360 + r2 * series
    series = 1 / 1188 + r2 * series
    series = -1 / 1680 + r2 * series
    series = 1 / 1260 + r2 * series
    series = -1 / 360 + r2 * series
    series = 1 / 12 + r2 * series
    return r * series


def _log1pmx(t: float) -> float:
    """log(1 + t) - t, accurate near 0."""
    if abs(t) >= 0.5:
        return math.log1p(t) - t
    total, power, k = 0.0, t * t, 2
    while True:
        term = power / k if k % 2 == 0 else -power / k
        total -= term
        if abs(term) <= _EPS * abs(total) or k > _MAX_TERMS:
            return total
        power *= t
        k += 1


def _lower_series(a: float, x: float) -> float:
    """sum_k x^k / (a (a+1) ... (a+k)): P(a, x) divided by the factor."""
    denominator, term = a, 1 / a
    total = term
    for _ in range(_MAX_TERMS):
        denominator += 1
        term *= x / denominator
        total += term
        if term <= _EPS * total:
            break
    return total


def _upper_fraction(a: float, x: float) -> float:
    """Q(a, x) divided by the factor, by its continued fraction (modified Lentz)."""
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) <= _EPS:
            break
    return h
