"""Significance, equivalence and multiple testing for valuations (METHODS.md B5, B6).

Pure array functions on estimates and standard errors (from
:func:`expert.stats.bootstrap.summarise`) or on p-values. p-values come from
``estimate / std_error`` (normal, or Student t with the analytic
Satterthwaite df), never from bootstrap tail counts, whose resolution
``1 / (B + 1)`` is too coarse for Holm over thousands of works (B6).

- :func:`two_sided_p`: H0 ``Delta = 0``.
- :func:`tost`, :func:`certified_margin`: H0 ``|Delta| >= epsilon`` (Schuirmann's two one-sided tests).
- :func:`classify`: material / negligible / detectable but trivial / inconclusive.
- :func:`holm`, :func:`benjamini_hochberg`, :func:`benjamini_yekutieli`: one family.
- :func:`hierarchical_gate`: sectors, then publishers within rejected sectors, then works
  within rejected publishers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from scipy import special, stats

from .power import _probability_iv

__all__ = [
    "Classification",
    "EquivalenceResult",
    "MultipleTestResult",
    "GateLevelResult",
    "HierarchicalGateResult",
    "two_sided_p",
    "tost",
    "certified_margin",
    "classify",
    "holm",
    "benjamini_hochberg",
    "benjamini_yekutieli",
    "hierarchical_gate",
]


# ----------------------------------------------------------------------------- helpers




def _estimate_iv(estimate, std_error, df):
    """Float arrays of estimate, std_error (broadcast) and df (None or broadcastable, inf allowed)."""
    estimate = np.asarray(estimate, dtype=np.float64)
    std_error = np.asarray(std_error, dtype=np.float64)
    if np.any(std_error < 0):
        raise ValueError(f"`std_error` must be non-negative, got {std_error!r}.")
    try:
        np.broadcast_shapes(estimate.shape, std_error.shape)
    except ValueError:
        raise ValueError(f"`estimate` {estimate.shape} and `std_error` {std_error.shape} must broadcast.") from None
    if df is not None:
        df = np.asarray(df, dtype=np.float64)
        if np.any(df <= 0):
            raise ValueError(f"`df` must be positive (or inf), got {df!r}.")
    return estimate, std_error, df


def _sf(statistic, df):
    """Upper tail P(T > statistic): normal when ``df`` is None or inf, else Student t."""
    if df is None:
        return special.ndtr(-statistic)
    finite = np.isfinite(df)
    return np.where(finite, stats.t.sf(statistic, np.where(finite, df, 1.0)), special.ndtr(-statistic))


def _ppf(level, df):
    if df is None:
        return np.asarray(special.ndtri(level))
    finite = np.isfinite(df)
    return np.where(finite, stats.t.ppf(level, np.where(finite, df, 1.0)), special.ndtri(level))


def _ratio(numerator, denominator):
    """numerator / denominator with SE = 0: +-inf by sign, and 0 for 0 / 0 (no evidence either way)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / denominator
    return np.where((denominator == 0) & (numerator == 0), 0.0, ratio)


def _output(array):
    return float(array) if np.ndim(array) == 0 else array


# ----------------------------------------------------------------------------- p-values and equivalence


def two_sided_p(estimate, std_error, df=None):
    """Two-sided p-value of H0 ``Delta = 0`` from the estimate and its standard error.

    Parameters
    ----------
    estimate : array_like
    std_error : array_like
        Non-negative, broadcast against ``estimate``.
    df : array_like or None, default: None
        Degrees of freedom of a t reference (``inf`` or None: normal). Use the
        analytic Satterthwaite df only where the analytic SE is the one reported.

    Returns
    -------
    float or ndarray
        ``2 P(T > |estimate| / std_error)``. A zero standard error gives 0 for a
        non-zero estimate and 1 for a zero estimate.

    Notes
    -----
    METHODS.md B6: derive p from ``Delta / SE`` rather than from the share of
    bootstrap replicates beyond zero, which cannot go below ``1 / (B + 1)``.

    Examples
    --------
    >>> round(two_sided_p(1.96, 1.0), 4)
    0.05
    >>> round(two_sided_p(2.0, 1.0, df=4), 4)
    0.1161
    """
    estimate, std_error, df = _estimate_iv(estimate, std_error, df)
    statistic = np.abs(_ratio(estimate, std_error))
    return _output(np.minimum(1.0, 2.0 * _sf(statistic, df)))


@dataclass(frozen=True)
class EquivalenceResult:
    """Two one-sided tests of H0 ``|Delta| >= margin`` (Schuirmann 1987).

    Attributes
    ----------
    estimate, std_error : ndarray
    margin : ndarray
        ``epsilon > 0``: the effect size counted as negligible.
    df : ndarray or None
        Degrees of freedom of the t reference (None: normal).
    statistic_lower : ndarray
        ``(estimate + margin) / std_error``, testing H0 ``Delta <= -margin``.
    statistic_upper : ndarray
        ``(margin - estimate) / std_error``, testing H0 ``Delta >= margin``.
    pvalue_lower, pvalue_upper : ndarray
        One-sided p-values of the two tests.
    pvalue : ndarray
        ``max(pvalue_lower, pvalue_upper)``, the TOST p-value.
    equivalent : ndarray of bool
        ``pvalue < alpha``: equivalently, the ``1 - 2 alpha`` interval lies inside ``(-margin, margin)``.
    ci_low, ci_high : ndarray
        The ``1 - 2 alpha`` (90 %) interval ``estimate -+ t_{1-alpha} std_error``.
    certified_margin : ndarray
        ``max(|ci_low|, |ci_high|)``: the tightest margin these data certify.
    alpha : float
    """

    estimate: np.ndarray
    std_error: np.ndarray
    margin: np.ndarray
    df: np.ndarray | None
    statistic_lower: np.ndarray
    statistic_upper: np.ndarray
    pvalue_lower: np.ndarray
    pvalue_upper: np.ndarray
    pvalue: np.ndarray
    equivalent: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    certified_margin: np.ndarray
    alpha: float


def tost(estimate, std_error, margin, df=None, alpha: float = 0.05) -> EquivalenceResult:
    """Equivalence test: is the effect within ``(-margin, margin)``?

    Parameters
    ----------
    estimate : array_like
    std_error : array_like
    margin : array_like
        Pre-specified equivalence margin ``epsilon > 0`` (METHODS.md B5), broadcast.
    df : array_like or None, default: None
        Degrees of freedom of a t reference (None or inf: normal).
    alpha : float, default: 0.05
        Level of each one-sided test; the matching interval is ``1 - 2 alpha`` (90 %).

    Returns
    -------
    EquivalenceResult

    Raises
    ------
    ValueError
        If ``margin`` is not positive, ``std_error`` is negative or ``alpha`` not in (0, 0.5).

    Notes
    -----
    Reject H0 ``|Delta| >= epsilon`` when ``(Delta + epsilon) / SE > t_{1-alpha}``
    and ``(epsilon - Delta) / SE > t_{1-alpha}``; the p-value is the larger of
    the two one-sided p-values. "All works in W are within epsilon" is an
    intersection-union test: each TOST at ``alpha``, no multiplicity penalty
    (Berger 1982).

    References
    ----------
    .. [1] Schuirmann, D. J. (1987). A comparison of the two one-sided tests procedure and the
           power approach for assessing the equivalence of average bioavailability.
           J. Pharmacokinetics and Biopharmaceutics 15(6), 657-680.
    .. [2] Berger, R. L. (1982). Multiparameter hypothesis testing and acceptance sampling.
           Technometrics 24(4), 295-300.

    Examples
    --------
    >>> result = tost(0.001, 0.002, margin=0.005)
    >>> bool(result.equivalent), round(float(result.pvalue), 4)
    (True, 0.0228)
    >>> round(float(result.certified_margin), 4)
    0.0043
    """
    estimate, std_error, df = _estimate_iv(estimate, std_error, df)
    alpha = _probability_iv("alpha", alpha)
    if alpha >= 0.5:
        raise ValueError(f"`alpha` must be a number in (0, 0.5), got {alpha!r}.")
    margin = np.asarray(margin, dtype=np.float64)
    if np.any(~(margin > 0)):
        raise ValueError(f"`margin` must be positive, got {margin!r}.")
    shape = np.broadcast_shapes(estimate.shape, std_error.shape, margin.shape, () if df is None else df.shape)
    estimate, std_error, margin = (np.broadcast_to(x, shape) for x in (estimate, std_error, margin))
    statistic_lower = _ratio(estimate + margin, std_error)
    statistic_upper = _ratio(margin - estimate, std_error)
    pvalue_lower = _sf(statistic_lower, df)
    pvalue_upper = _sf(statistic_upper, df)
    pvalue = np.maximum(pvalue_lower, pvalue_upper)
    critical = _ppf(1.0 - alpha, df)
    ci_low = estimate - critical * std_error
    ci_high = estimate + critical * std_error
    return EquivalenceResult(
        estimate=np.array(estimate), std_error=np.array(std_error), margin=np.array(margin),
        df=None if df is None else np.broadcast_to(df, shape).copy(),
        statistic_lower=np.asarray(statistic_lower), statistic_upper=np.asarray(statistic_upper),
        pvalue_lower=np.asarray(pvalue_lower), pvalue_upper=np.asarray(pvalue_upper), pvalue=np.asarray(pvalue),
        equivalent=np.asarray(pvalue < alpha), ci_low=np.asarray(ci_low), ci_high=np.asarray(ci_high),
        certified_margin=np.maximum(np.abs(ci_low), np.abs(ci_high)), alpha=alpha)


def certified_margin(estimate, std_error, df=None, alpha: float = 0.05):
    """The tightest equivalence margin the data certify: ``max(|L|, |U|)`` of the ``1 - 2 alpha`` interval.

    Parameters
    ----------
    estimate, std_error : array_like
    df : array_like or None, default: None
    alpha : float, default: 0.05
        Gives the 90 % interval, matching a TOST at 5 %.

    Returns
    -------
    float or ndarray
        ``|estimate| + t_{1-alpha} std_error``: TOST rejects for every margin above it.

    Examples
    --------
    >>> round(certified_margin(-0.001, 0.002), 5)
    0.00429
    """
    estimate, std_error, df = _estimate_iv(estimate, std_error, df)
    alpha = _probability_iv("alpha", alpha)
    if alpha >= 0.5:
        raise ValueError(f"`alpha` must be a number in (0, 0.5), got {alpha!r}.")
    return _output(np.abs(estimate) + _ppf(1.0 - alpha, df) * std_error)


class Classification(StrEnum):
    """Verdict from a significance test and an equivalence test (METHODS.md B5)."""

    MATERIAL = "material"
    NEGLIGIBLE = "negligible"
    DETECTABLE_BUT_TRIVIAL = "detectable but trivial"
    INCONCLUSIVE = "inconclusive"


def classify(significant, equivalent) -> np.ndarray:
    """Label each value from its significance and equivalence flags.

    Parameters
    ----------
    significant : array_like of bool
        The two-sided test of ``Delta = 0`` rejected (after any multiplicity adjustment).
    equivalent : array_like of bool
        The TOST at the pre-specified margin rejected ``|Delta| >= epsilon``.

    Returns
    -------
    ndarray of str
        The values of :class:`Classification`:

        ============  ============  =========================
        significant   equivalent    label
        ============  ============  =========================
        yes           no            material
        no            yes           negligible
        yes           yes           detectable but trivial
        no            no            inconclusive
        ============  ============  =========================

    Notes
    -----
    "Inconclusive" is not "no value": never report a non-significant result as zero.

    Examples
    --------
    >>> classify([True, False, True, False], [False, True, True, False]).tolist()
    ['material', 'negligible', 'detectable but trivial', 'inconclusive']
    """
    significant = np.asarray(significant)
    equivalent = np.asarray(equivalent)
    if significant.dtype != bool or equivalent.dtype != bool:
        raise ValueError("`significant` and `equivalent` must be boolean arrays.")
    significant, equivalent = np.broadcast_arrays(significant, equivalent)
    labels = np.array([Classification.INCONCLUSIVE.value, Classification.NEGLIGIBLE.value,
                       Classification.MATERIAL.value, Classification.DETECTABLE_BUT_TRIVIAL.value])
    return labels[2 * significant.astype(np.int64) + equivalent.astype(np.int64)]


# ----------------------------------------------------------------------------- one family


@dataclass(frozen=True)
class MultipleTestResult:
    """Adjusted p-values and decisions for one family of hypotheses.

    Attributes
    ----------
    pvalues : ndarray
        The raw p-values (NaN: not part of the family).
    adjusted : ndarray
        Adjusted p-values (NaN where the raw p-value was NaN).
    reject : ndarray of bool
        ``adjusted <= level``.
    method : str
        ``'holm'``, ``'bh'`` or ``'by'``.
    level : float
        ``alpha`` (family-wise error rate) or ``q`` (false discovery rate).
    n_tests : int
        Family size ``m``: the non-NaN p-values.
    """

    pvalues: np.ndarray
    adjusted: np.ndarray
    reject: np.ndarray
    method: str
    level: float
    n_tests: int


def _pvalues_iv(pvalues) -> np.ndarray:
    pvalues = np.asarray(pvalues, dtype=np.float64)
    if pvalues.ndim != 1:
        raise ValueError(f"`pvalues` must be one-dimensional, got shape {pvalues.shape}.")
    finite = pvalues[~np.isnan(pvalues)]
    if np.any(finite < 0) or np.any(finite > 1):
        raise ValueError("`pvalues` must be in [0, 1] (or NaN to leave a hypothesis out).")
    return pvalues


def _holm_adjusted(p: np.ndarray) -> np.ndarray:
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _adjust(pvalues, level: float, method: str) -> MultipleTestResult:
    keep = ~np.isnan(pvalues)
    adjusted = np.full(pvalues.shape, np.nan)
    if keep.any():
        finite = pvalues[keep]
        if method == "holm":
            adjusted[keep] = _holm_adjusted(finite)
        else:
            adjusted[keep] = stats.false_discovery_control(finite, method=method)
    with np.errstate(invalid="ignore"):
        reject = adjusted <= level
    return MultipleTestResult(pvalues=pvalues, adjusted=adjusted, reject=reject, method=method, level=level,
                              n_tests=int(keep.sum()))


def holm(pvalues, alpha: float = 0.05) -> MultipleTestResult:
    """Holm's step-down procedure: family-wise error rate ``alpha`` under any dependence.

    Parameters
    ----------
    pvalues : array_like, shape (m,)
        NaN leaves a hypothesis out of the family.
    alpha : float, default: 0.05

    Returns
    -------
    MultipleTestResult

    Notes
    -----
    With ``p_(1) <= ... <= p_(m)``, reject ``H_(i)`` while ``p_(i) <= alpha / (m - i + 1)``;
    the adjusted p-value is ``max_{j <= i} min(1, (m - j + 1) p_(j))``.

    References
    ----------
    .. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
           Scandinavian Journal of Statistics 6(2), 65-70.

    Examples
    --------
    >>> result = holm([0.01, 0.04, 0.03, 0.005])
    >>> result.adjusted.tolist(), result.reject.tolist()
    ([0.03, 0.06, 0.06, 0.02], [True, False, False, True])
    """
    return _adjust(_pvalues_iv(pvalues), _probability_iv("alpha", alpha), "holm")


def benjamini_hochberg(pvalues, q: float = 0.05) -> MultipleTestResult:
    """Benjamini-Hochberg step-up procedure: false discovery rate ``q`` (independence or PRDS).

    Parameters
    ----------
    pvalues : array_like, shape (m,)
        NaN leaves a hypothesis out of the family.
    q : float, default: 0.05

    Returns
    -------
    MultipleTestResult

    Notes
    -----
    Reject the ``k`` smallest p-values, ``k`` the largest ``i`` with ``p_(i) <= i q / m``.
    Adjusted p-values from :func:`scipy.stats.false_discovery_control` (``method='bh'``).

    References
    ----------
    .. [1] Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate.
           JRSS B 57(1), 289-300.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.005]).reject.tolist()
    [True, True, True, True]
    """
    return _adjust(_pvalues_iv(pvalues), _probability_iv("q", q), "bh")


def benjamini_yekutieli(pvalues, q: float = 0.05) -> MultipleTestResult:
    """Benjamini-Yekutieli: BH at ``q / sum_{l <= m} 1/l``, valid under any dependence.

    Parameters
    ----------
    pvalues : array_like, shape (m,)
        NaN leaves a hypothesis out of the family.
    q : float, default: 0.05

    Returns
    -------
    MultipleTestResult

    Notes
    -----
    A sensitivity check for BH when work-level tests sharing a baseline may not
    be PRDS (METHODS.md B6).

    References
    ----------
    .. [1] Benjamini, Y. and Yekutieli, D. (2001). The control of the false discovery rate in
           multiple testing under dependency. Annals of Statistics 29(4), 1165-1188.

    Examples
    --------
    >>> benjamini_yekutieli([0.01, 0.04, 0.03, 0.005]).reject.tolist()
    [True, False, False, True]
    """
    return _adjust(_pvalues_iv(pvalues), _probability_iv("q", q), "by")


# ----------------------------------------------------------------------------- hierarchy

_METHODS = {"holm": holm, "bh": benjamini_hochberg, "by": benjamini_yekutieli}


@dataclass(frozen=True)
class GateLevelResult:
    """One level of a gated hierarchy (e.g. publishers).

    Attributes
    ----------
    pvalues : ndarray, shape (n_nodes,)
    parents : ndarray of int, shape (n_nodes,)
        Index of each node's parent on the level above (-1 on the top level).
    tested : ndarray of bool
        The node's parent was rejected (always True on the top level), so its
        family was tested.
    adjusted : ndarray
        Adjusted p-value within the node's family (one family per parent); NaN if untested.
    reject : ndarray of bool
    method : str
    level : float
    """

    pvalues: np.ndarray
    parents: np.ndarray
    tested: np.ndarray
    adjusted: np.ndarray
    reject: np.ndarray
    method: str
    level: float


@dataclass(frozen=True)
class HierarchicalGateResult:
    """Decisions of a gated hierarchy of families, coarsest level first.

    Attributes
    ----------
    levels : tuple of GateLevelResult
    """

    levels: tuple[GateLevelResult, ...] = field()

    @property
    def reject(self) -> tuple[np.ndarray, ...]:
        """The reject flags of every level."""
        return tuple(level.reject for level in self.levels)


def _hierarchical_gate_iv(pvalues, parents, alpha, methods):
    if isinstance(pvalues, np.ndarray) and pvalues.ndim == 1:
        pvalues = [pvalues]
    levels = [_pvalues_iv(p) for p in pvalues]
    n_levels = len(levels)
    if n_levels == 0:
        raise ValueError("`pvalues` must hold at least one level.")
    parents = [] if parents is None else list(parents)
    if len(parents) != n_levels - 1:
        raise ValueError(f"`parents` must have one array per level below the top ({n_levels - 1}), "
                         f"got {len(parents)}.")
    parent_arrays = []
    for index, (array, above, below) in enumerate(zip(parents, levels[:-1], levels[1:]), start=1):
        array = np.asarray(array)
        if array.shape != below.shape or (array.size and not np.issubdtype(array.dtype, np.integer)):
            raise ValueError(f"`parents[{index - 1}]` must be integers, one per p-value of level {index} "
                             f"({below.size}), got {array!r}.")
        if array.size and (array.min() < 0 or array.max() >= above.size):
            raise ValueError(f"`parents[{index - 1}]` must index level {index - 1} (0 to {above.size - 1}), "
                             f"got values from {array.min()} to {array.max()}.")
        parent_arrays.append(array.astype(np.int64))
    if np.ndim(alpha) == 0:
        alphas = [_probability_iv("alpha", alpha)] * n_levels
    else:
        if len(alpha) != n_levels:
            raise ValueError(f"`alpha` must be a number or one per level ({n_levels}), got {alpha!r}.")
        alphas = [_probability_iv("alpha", a) for a in alpha]
    if methods is None:
        methods = ("holm",) * (n_levels - 1) + ("bh",) if n_levels > 1 else ("holm",)
    elif isinstance(methods, str):
        methods = (methods,) * n_levels
    methods = tuple(str(method).lower() for method in methods)
    if len(methods) != n_levels:
        raise ValueError(f"`methods` must have one method per level ({n_levels}), got {methods!r}.")
    for method in methods:
        if method not in _METHODS:
            raise ValueError(f"`methods` must be in {tuple(_METHODS)}, got {method!r}.")
    return levels, parent_arrays, alphas, methods


def hierarchical_gate(pvalues, parents=None, alpha=0.05, methods=None) -> HierarchicalGateResult:
    """Gated testing down a hierarchy: children are tested only inside rejected parents.

    Parameters
    ----------
    pvalues : sequence of array_like
        p-values per level, coarsest first (e.g. ``[sectors, publishers, works]``).
        NaN leaves a node out of its family (and untested nodes have no children tested).
    parents : sequence of array_like of int
        One array per level below the top: ``parents[l][i]`` is the index, on
        level ``l``, of node ``i`` of level ``l + 1`` (e.g. the sector of each
        publisher, then the publisher of each work).
    alpha : float or sequence of float, default: 0.05
        Level of every family, or one per level.
    methods : sequence of {'holm', 'bh', 'by'}, optional
        Procedure per level. Default: Holm on every level but the last, BH on
        the last (sectors and publishers are the pre-registered confirmatory
        family; works are screened, METHODS.md B6).

    Returns
    -------
    HierarchicalGateResult

    Raises
    ------
    ValueError
        If the parents do not index the level above, or a method is unknown.

    Notes
    -----
    The top level is one family. On every level below, the children of each
    rejected parent form one family, tested at the full ``alpha`` with that
    level's method; the children of a parent that was not rejected (or not
    tested) are not tested. This is the simple top-down gating of Yekutieli
    (2008). With BH in every family and independent test statistics, the FDR
    over the whole tree is approximately ``q (n_families_tested +
    n_discoveries) / (n_discoveries + 1)`` and at most ``2 * 1.44 * q``; the
    top family keeps its own Holm (FWER) guarantee. It is not Meinshausen's
    (2008) FWER procedure, which splits ``alpha`` by subtree size, so the
    family-wise error over all levels is not controlled at ``alpha``; pass a
    smaller per-level ``alpha`` to be more conservative.

    References
    ----------
    .. [1] Yekutieli, D. (2008). Hierarchical false discovery rate-controlling methodology.
           JASA 103(481), 309-316.
    .. [2] Meinshausen, N. (2008). Hierarchical testing of variable importance. Biometrika 95(2), 265-278.

    Examples
    --------
    Two sectors, three publishers, six works; sector 1 is not rejected, so
    publisher 2 and its works are never tested:

    >>> result = hierarchical_gate(
    ...     [[0.001, 0.4], [0.002, 0.03, 0.0001], [0.001, 0.5, 0.01, 0.02, 0.001, 0.001]],
    ...     parents=[[0, 0, 1], [0, 0, 1, 1, 2, 2]])
    >>> [level.reject.tolist() for level in result.levels]
    [[True, False], [True, True, False], [True, False, True, True, False, False]]
    """
    levels, parent_arrays, alphas, methods = _hierarchical_gate_iv(pvalues, parents, alpha, methods)
    results = []
    previous_reject = None
    for index, p in enumerate(levels):
        method, level = methods[index], alphas[index]
        if index == 0:
            family = np.full(p.size, -1, dtype=np.int64)
            tested = np.ones(p.size, dtype=bool)
            outcome = _METHODS[method](p, level)
            adjusted, reject = outcome.adjusted, outcome.reject
        else:
            family = parent_arrays[index - 1]
            tested = previous_reject[family] if p.size else np.zeros(0, dtype=bool)
            adjusted = np.full(p.size, np.nan)
            reject = np.zeros(p.size, dtype=bool)
            for parent in np.unique(family[tested]):
                members = np.flatnonzero(family == parent)
                outcome = _METHODS[method](p[members], level)
                adjusted[members] = outcome.adjusted
                reject[members] = outcome.reject
        results.append(GateLevelResult(pvalues=p, parents=family, tested=tested, adjusted=adjusted, reject=reject,
                                       method=method, level=level))
        previous_reject = reject
    return HierarchicalGateResult(levels=tuple(results))
