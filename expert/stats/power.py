"""Power, minimum detectable effects and null calibration for noisy ablations (METHODS.md B1, B4, B8).

Pure array functions: they take standard errors, variance components and
A/A differences (from :mod:`expert.stats.bootstrap` or a planning
spreadsheet) and return arrays or frozen result objects. Nothing here reads
files or knows about cases; the report phrases the results.

The variance model (METHODS.md B1) for a balanced comparison of two
configurations with ``R`` matched seeds per arm and ``n`` paired items is

    SE^2 = 2 sigma_s^2 (1 - rho) / R + sigma_d^2 / n

with ``sigma_s`` the seed SD of one configuration's benchmark mean, ``rho`` the
correlation of the two arms over matched seeds, and ``sigma_d`` the SD over
items of the paired, seed-averaged item difference. The minimum detectable
effect (MDE) at two-sided level ``alpha`` (Bonferroni/Holm-adjusted over
``n_tests``) and power ``pi`` is ``(z_{1 - alpha/(2 m)} + z_pi) SE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

__all__ = [
    "PowerGridResult",
    "PerWorkScalingResult",
    "NullBandResult",
    "minimum_detectable_effect",
    "mde_multiplier",
    "power_grid",
    "seeds_needed",
    "item_floor",
    "per_work_scaling",
    "null_band",
]


# ----------------------------------------------------------------------------- input validation helpers


def _probability_iv(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number in (0, 1), got {value!r}.") from None
    if not 0.0 < number < 1.0:
        raise ValueError(f"`{name}` must be a number in (0, 1), got {value!r}.")
    return number


def _n_tests_iv(n_tests) -> int:
    message = f"`n_tests` must be a positive integer, got {n_tests!r}."
    try:
        number = float(n_tests)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if isinstance(n_tests, bool) or not number.is_integer() or number < 1:
        raise ValueError(message)
    return int(number)


def _nonnegative_iv(name: str, value) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if np.any(np.isnan(array)) or np.any(array < 0):
        raise ValueError(f"`{name}` must be non-negative, got {value!r}.")
    return array


def _positive_iv(name: str, value) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if np.any(np.isnan(array)) or np.any(array <= 0):
        raise ValueError(f"`{name}` must be positive, got {value!r}.")
    return array


def _rho_iv(rho) -> np.ndarray:
    array = np.asarray(rho, dtype=np.float64)
    if np.any(np.isnan(array)) or np.any(array < -1) or np.any(array > 1):
        raise ValueError(f"`rho` must be in [-1, 1], got {rho!r}.")
    return array


def _output(array: np.ndarray):
    """A 0-d result as a Python float, anything else as an array."""
    return float(array) if np.ndim(array) == 0 else array


# ----------------------------------------------------------------------------- MDE


def mde_multiplier(alpha: float = 0.05, power: float = 0.8, n_tests: int = 1, df=None):
    """The factor ``z_{1 - alpha/(2 m)} + z_power`` that turns a standard error into an MDE.

    Parameters
    ----------
    alpha : float, default: 0.05
        Two-sided significance level of one test.
    power : float, default: 0.8
    n_tests : int, default: 1
        Number of tests ``m`` in the Holm (Bonferroni) family.
    df : array_like or None, default: None
        Degrees of freedom; None (or ``inf``) uses normal quantiles, otherwise
        Student t quantiles with ``df`` degrees of freedom (the usual
        approximation ``t_{1 - alpha/2} + t_power`` to the non-central t).

    Returns
    -------
    float or ndarray
        2.80 at ``alpha = 0.05``, ``power = 0.8``, one test.

    Examples
    --------
    >>> round(mde_multiplier(), 4)
    2.8016
    """
    alpha, power, n_tests = _mde_iv(alpha, power, n_tests)
    return _output(_multiplier(alpha, power, n_tests, df))


def _mde_iv(alpha, power, n_tests):
    return _probability_iv("alpha", alpha), _probability_iv("power", power), _n_tests_iv(n_tests)


def _multiplier(alpha: float, power: float, n_tests: int, df=None) -> np.ndarray:
    level = 1.0 - alpha / (2.0 * n_tests)
    if df is None:
        return np.asarray(special.ndtri(level) + special.ndtri(power))
    df = np.asarray(df, dtype=np.float64)
    if np.any(np.isnan(df)) or np.any(df <= 0):
        raise ValueError(f"`df` must be positive (or inf), got {df!r}.")
    finite = np.isfinite(df)
    safe = np.where(finite, df, 1.0)
    t_value = stats.t.ppf(level, safe) + stats.t.ppf(power, safe)
    return np.where(finite, t_value, special.ndtri(level) + special.ndtri(power))


def minimum_detectable_effect(std_error, alpha: float = 0.05, power: float = 0.8, n_tests: int = 1, df=None):
    """Minimum detectable effect of a two-sided test with the given standard error.

    Parameters
    ----------
    std_error : array_like
        Standard error(s) of the estimated difference.
    alpha : float, default: 0.05
        Two-sided level of one test.
    power : float, default: 0.8
        Probability of detecting an effect of exactly the MDE.
    n_tests : int, default: 1
        Size ``m`` of the Holm family: the critical value is ``z_{1 - alpha/(2m)}``.
    df : array_like or None, default: None
        Degrees of freedom for t quantiles (None: normal).

    Returns
    -------
    float or ndarray
        ``(z_{1 - alpha/(2m)} + z_power) * std_error``, same shape as ``std_error``.

    Raises
    ------
    ValueError
        If ``std_error`` is negative or a level is outside (0, 1).

    Notes
    -----
    METHODS.md B4: MDE = (z_{1-alpha/2} + z_{1-beta}) SE, 2.80 SE at the defaults.
    NaN standard errors (no replication) give NaN.

    References
    ----------
    .. [1] Bloom, H. S. (1995). Minimum detectable effects. Evaluation Review 19(5), 547-556.

    Examples
    --------
    >>> from expert.stats.power import minimum_detectable_effect
    >>> round(minimum_detectable_effect(0.01), 5)
    0.02802
    >>> minimum_detectable_effect([0.01, 0.02], n_tests=10).round(4)
    array([0.0365, 0.073 ])
    """
    alpha, power, n_tests = _mde_iv(alpha, power, n_tests)
    std_error = np.asarray(std_error, dtype=np.float64)
    if np.any(std_error < 0):
        raise ValueError(f"`std_error` must be non-negative, got {std_error!r}.")
    return _output(_multiplier(alpha, power, n_tests, df) * std_error)


def item_floor(item_sd_paired, n_items, alpha: float = 0.05, power: float = 0.8, n_tests: int = 1):
    """The smallest effect any number of seeds can detect with ``n_items`` paired items.

    Parameters
    ----------
    item_sd_paired : array_like
        ``sigma_d``: SD over items of the paired, seed-averaged item difference.
    n_items : array_like
        Number of benchmark items ``n``.
    alpha, power, n_tests
        As in :func:`minimum_detectable_effect`.

    Returns
    -------
    float or ndarray
        ``(z_{1 - alpha/(2m)} + z_power) sigma_d / sqrt(n)``: the MDE with infinitely many seeds.

    Examples
    --------
    >>> round(item_floor(0.2, 1000), 5)
    0.01772
    """
    alpha, power, n_tests = _mde_iv(alpha, power, n_tests)
    item_sd_paired = _nonnegative_iv("item_sd_paired", item_sd_paired)
    n_items = _positive_iv("n_items", n_items)
    return _output(_multiplier(alpha, power, n_tests) * item_sd_paired / np.sqrt(n_items))


def _std_error(seed_sd, item_sd_paired, n_seeds, n_items, rho):
    """SE of a balanced matched-seed comparison (METHODS.md B1); R = 0 gives inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        seed_part = np.where(n_seeds > 0, 2.0 * seed_sd**2 * (1.0 - rho) / np.where(n_seeds > 0, n_seeds, 1), np.inf)
    return np.sqrt(seed_part + item_sd_paired**2 / n_items)


# ----------------------------------------------------------------------------- planning grid


@dataclass(frozen=True)
class PowerGridResult:
    """MDE of a balanced matched-seed comparison for each (seeds, items) design.

    Attributes
    ----------
    seeds : ndarray of int, shape (n_seed_options,)
        Seeds per arm ``R``.
    items : ndarray of int, shape (n_item_options,)
        Paired items ``n``.
    std_error : ndarray, shape (n_seed_options, n_item_options)
        ``sqrt(2 sigma_s^2 (1 - rho) / R + sigma_d^2 / n)``.
    mde : ndarray, shape (n_seed_options, n_item_options)
        ``multiplier * std_error``.
    item_floor : ndarray, shape (n_item_options,)
        The MDE with infinitely many seeds, per item count.
    multiplier : float
        ``z_{1 - alpha/(2m)} + z_power``.
    seed_sd, item_sd_paired, rho, alpha, power : float
    n_tests : int
    """

    seeds: np.ndarray
    items: np.ndarray
    std_error: np.ndarray
    mde: np.ndarray
    item_floor: np.ndarray
    multiplier: float
    seed_sd: float
    item_sd_paired: float
    rho: float
    alpha: float
    power: float
    n_tests: int

    def to_frame(self):
        """Long table: one row per (seeds, items) with ``std_error``, ``mde`` and ``item_floor``."""
        import pandas as pd

        seeds, items = np.meshgrid(self.seeds, self.items, indexing="ij")
        return pd.DataFrame({"seeds": seeds.ravel(), "items": items.ravel(), "std_error": self.std_error.ravel(),
                             "mde": self.mde.ravel(),
                             "item_floor": np.broadcast_to(self.item_floor, seeds.shape).ravel()})


def _counts_iv(name: str, values) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values))
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"`{name}` must be a non-empty sequence of positive integers, got {values!r}.")
    try:
        as_float = array.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a non-empty sequence of positive integers, got {values!r}.") from None
    if np.any(~np.isfinite(as_float)) or np.any(as_float < 1) or np.any(as_float != np.round(as_float)):
        raise ValueError(f"`{name}` must be a non-empty sequence of positive integers, got {values!r}.")
    return as_float.astype(np.int64)


def _scalar_iv(name: str, value, minimum: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.") from None
    if not np.isfinite(number) or number < minimum:
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
    return number


def power_grid(seed_sd: float, item_sd_paired: float, seeds=(3, 5, 10, 20), items=(250, 500, 1000, 2000, 5000),
               rho: float = 0.0, alpha: float = 0.05, power: float = 0.8, n_tests: int = 1) -> PowerGridResult:
    """MDE of a balanced, matched-seed comparison over a grid of seed and item counts.

    Parameters
    ----------
    seed_sd : float
        ``sigma_s``: SD across seeds of one configuration's benchmark mean.
    item_sd_paired : float
        ``sigma_d``: SD over items of the paired, seed-averaged difference.
    seeds : sequence of int, default: (3, 5, 10, 20)
        Seeds per arm ``R`` to tabulate.
    items : sequence of int, default: (250, 500, 1000, 2000, 5000)
        Paired item counts ``n`` to tabulate.
    rho : float, default: 0.0
        Correlation between the two arms' seed means over matched seeds.
    alpha, power, n_tests
        As in :func:`minimum_detectable_effect`.

    Returns
    -------
    PowerGridResult

    Notes
    -----
    ``SE^2 = 2 sigma_s^2 (1 - rho) / R + sigma_d^2 / n`` (METHODS.md B1, balanced
    arms with equal seed SD) and ``MDE = (z_{1-alpha/(2m)} + z_power) SE``.

    Examples
    --------
    >>> grid = power_grid(0.01, 0.2, seeds=(3, 10), items=(1000,))
    >>> grid.mde.round(4)
    array([[0.0289],
           [0.0217]])
    """
    seed_sd = _scalar_iv("seed_sd", seed_sd)
    item_sd_paired = _scalar_iv("item_sd_paired", item_sd_paired)
    seeds = _counts_iv("seeds", seeds)
    items = _counts_iv("items", items)
    rho = float(_rho_iv(rho))
    alpha, power, n_tests = _mde_iv(alpha, power, n_tests)
    multiplier = float(_multiplier(alpha, power, n_tests))
    std_error = _std_error(seed_sd, item_sd_paired, seeds[:, None].astype(np.float64),
                           items[None, :].astype(np.float64), rho)
    return PowerGridResult(seeds=seeds, items=items, std_error=std_error, mde=multiplier * std_error,
                           item_floor=multiplier * item_sd_paired / np.sqrt(items), multiplier=multiplier,
                           seed_sd=seed_sd, item_sd_paired=item_sd_paired, rho=rho, alpha=alpha, power=power,
                           n_tests=n_tests)


# ----------------------------------------------------------------------------- seeds needed


def seeds_needed(delta, seed_sd, item_sd_paired, n_items, rho=0.0, alpha: float = 0.05, power: float = 0.8,
                 n_tests: int = 1):
    """Seeds per arm needed to detect an effect ``delta`` with the given power.

    Parameters
    ----------
    delta : array_like
        The effect to detect (its sign is ignored).
    seed_sd : array_like
        ``sigma_s``: SD across seeds of one configuration's benchmark mean.
    item_sd_paired : array_like
        ``sigma_d``: SD over items of the paired, seed-averaged difference.
    n_items : array_like
        Paired items ``n``.
    rho : array_like, default: 0.0
        Correlation of the two arms over matched seeds.
    alpha, power, n_tests
        As in :func:`minimum_detectable_effect`.

    Returns
    -------
    float or ndarray
        The smallest integer ``R >= 1`` per arm with ``MDE(R) <= |delta|``, broadcast
        over the inputs; ``inf`` where ``|delta|`` is at or below the item floor
        (:func:`item_floor`), since then no number of seeds suffices and more
        items are needed.

    Notes
    -----
    With ``M = z_{1-alpha/(2m)} + z_power`` (METHODS.md B4),

        R = 2 sigma_s^2 (1 - rho) M^2 / (delta^2 - M^2 sigma_d^2 / n),

    rounded up. Without seed variance (``sigma_s = 0`` or ``rho = 1``) one seed suffices.

    Examples
    --------
    >>> seeds_needed(0.03, seed_sd=0.01, item_sd_paired=0.2, n_items=1000)
    3.0
    >>> seeds_needed(0.015, seed_sd=0.01, item_sd_paired=0.2, n_items=1000)
    inf
    """
    alpha, power, n_tests = _mde_iv(alpha, power, n_tests)
    delta = np.abs(np.asarray(delta, dtype=np.float64))
    if np.any(np.isnan(delta)):
        raise ValueError(f"`delta` must be a number, got {delta!r}.")
    seed_sd = _nonnegative_iv("seed_sd", seed_sd)
    item_sd_paired = _nonnegative_iv("item_sd_paired", item_sd_paired)
    n_items = _positive_iv("n_items", n_items)
    rho = _rho_iv(rho)
    return _output(_seeds_needed(delta, seed_sd, item_sd_paired, n_items, rho,
                                 float(_multiplier(alpha, power, n_tests))))


def _seeds_needed(delta, seed_sd, item_sd_paired, n_items, rho, multiplier):
    """Unrounded and rounded seeds per arm (validated inputs)."""
    raw = _raw_seeds(delta, seed_sd, item_sd_paired, n_items, rho, multiplier)
    # shave rounding error before the ceiling so that an exact integer is not bumped up by one ulp
    rounded = np.ceil(raw * (1.0 - 1e-12))
    return np.where(np.isfinite(raw), np.maximum(rounded, 1.0), np.inf)


def _raw_seeds(delta, seed_sd, item_sd_paired, n_items, rho, multiplier):
    room = delta**2 - multiplier**2 * item_sd_paired**2 / n_items
    numerator = 2.0 * seed_sd**2 * (1.0 - rho) * multiplier**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(room > 0, numerator / np.where(room > 0, room, 1.0), np.inf)


@dataclass(frozen=True)
class PerWorkScalingResult:
    """What detecting one work of a group costs, when the group's effect is spread over its works.

    Attributes
    ----------
    group_effect : ndarray
        ``LOO(G)``, the effect of removing the whole group.
    group_size : ndarray
        ``|G|``, works in the group.
    work_effect : ndarray
        ``delta_work = LOO(G) / |G|``.
    seeds_for_group : ndarray
        Seeds per arm to detect ``group_effect`` (inf: below the item floor).
    seeds_for_work : ndarray
        Seeds per arm to detect ``work_effect`` (inf: below the item floor).
    seed_ratio : ndarray
        Unrounded ``seeds_for_work / seeds_for_group``: ``|G|^2`` without an item
        floor, larger with one, inf when the work effect is below the floor.
    item_floor : ndarray
        The smallest detectable effect with infinitely many seeds.
    below_item_floor : ndarray of bool
        True where ``|work_effect| <= item_floor``: more items, not seeds, are needed.
    """

    group_effect: np.ndarray
    group_size: np.ndarray
    work_effect: np.ndarray
    seeds_for_group: np.ndarray
    seeds_for_work: np.ndarray
    seed_ratio: np.ndarray
    item_floor: np.ndarray
    below_item_floor: np.ndarray


def per_work_scaling(group_effect, group_size, seed_sd, item_sd_paired, n_items, rho=0.0, alpha: float = 0.05,
                     power: float = 0.8, n_tests: int = 1) -> PerWorkScalingResult:
    """Seeds needed to detect one work when a group's effect is spread evenly over its works.

    Parameters
    ----------
    group_effect : array_like
        ``LOO(G)`` of each group.
    group_size : array_like of int
        Works in each group ``|G|``.
    seed_sd, item_sd_paired, n_items, rho, alpha, power, n_tests
        As in :func:`seeds_needed`.

    Returns
    -------
    PerWorkScalingResult

    Notes
    -----
    METHODS.md B4: ``delta_work ~ LOO(G) / |G|``. Since ``R`` grows as
    ``1 / delta^2`` when the item floor is negligible, detecting one work needs
    about ``|G|^2`` times the seeds needed for the group; the item floor makes
    it more (or impossible).

    Examples
    --------
    >>> result = per_work_scaling(0.04, 4, seed_sd=0.01, item_sd_paired=0.0, n_items=1000)
    >>> float(result.work_effect), float(result.seed_ratio)
    (0.01, 16.0)
    """
    alpha, power, n_tests = _mde_iv(alpha, power, n_tests)
    group_effect = np.asarray(group_effect, dtype=np.float64)
    if np.any(np.isnan(group_effect)):
        raise ValueError(f"`group_effect` must be a number, got {group_effect!r}.")
    group_size = np.asarray(group_size)
    if np.any(group_size < 1) or np.any(np.asarray(group_size, dtype=np.float64) % 1 != 0):
        raise ValueError(f"`group_size` must be a positive integer, got {group_size!r}.")
    seed_sd = _nonnegative_iv("seed_sd", seed_sd)
    item_sd_paired = _nonnegative_iv("item_sd_paired", item_sd_paired)
    n_items = _positive_iv("n_items", n_items)
    rho = _rho_iv(rho)
    multiplier = float(_multiplier(alpha, power, n_tests))

    group_size = group_size.astype(np.float64)
    work_effect = group_effect / group_size
    arguments = (seed_sd, item_sd_paired, n_items, rho, multiplier)
    raw_group = _raw_seeds(np.abs(group_effect), *arguments)
    raw_work = _raw_seeds(np.abs(work_effect), *arguments)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isinf(raw_work), np.inf, raw_work / raw_group)
    floor = multiplier * item_sd_paired / np.sqrt(n_items)
    shape = np.broadcast_shapes(group_effect.shape, group_size.shape, seed_sd.shape, item_sd_paired.shape,
                                n_items.shape, rho.shape)
    return PerWorkScalingResult(
        group_effect=np.broadcast_to(group_effect, shape).copy(),
        group_size=np.broadcast_to(group_size, shape).copy(),
        work_effect=np.broadcast_to(work_effect, shape).copy(),
        seeds_for_group=np.broadcast_to(_seeds_needed(np.abs(group_effect), *arguments), shape).copy(),
        seeds_for_work=np.broadcast_to(_seeds_needed(np.abs(work_effect), *arguments), shape).copy(),
        seed_ratio=np.broadcast_to(ratio, shape).copy(),
        item_floor=np.broadcast_to(floor, shape).copy(),
        below_item_floor=np.broadcast_to(np.abs(work_effect) <= floor, shape).copy())


# ----------------------------------------------------------------------------- null calibration


@dataclass(frozen=True)
class NullBandResult:
    """The range of differences that noise alone produces, from A/A runs or from the model.

    Attributes
    ----------
    method : str
        ``'empirical'`` (quantiles of A/A differences) or ``'model'`` (``+- z SE``).
    low, high : float or ndarray
        The band. Empirical: quantiles ``(1 - c)/2`` and ``(1 + c)/2`` of the
        symmetrised A/A differences ``{d, -d}`` (which arm is "A" is arbitrary),
        a scalar. Model: ``-+ z_{(1+c)/2} SE``, shaped like ``std_errors``.
    confidence : float
    critical_value : float
        ``z_{(1+c)/2}``.
    n_pairs : int
        Number of A/A differences (0 for the model band).
    n_false_positives : int or None
        A/A differences with ``|d| / SE > z``, when their standard errors were given.
    false_positive_rate : float
        ``n_false_positives / n_pairs``: the empirical rate at which a nominal
        ``1 - c`` test fires on pure noise (NaN without A/A standard errors; the
        nominal ``1 - c`` for the model band, by construction).
    differences : ndarray
        The A/A differences used (empty for the model band).
    """

    method: str
    low: float | np.ndarray
    high: float | np.ndarray
    confidence: float
    critical_value: float
    n_pairs: int
    n_false_positives: int | None
    false_positive_rate: float
    differences: np.ndarray = field(repr=False)


def null_band(aa_differences=None, std_errors=None, confidence: float = 0.95) -> NullBandResult:
    """Noise band from A/A comparisons (same data, different seeds), or from standard errors.

    Parameters
    ----------
    aa_differences : array_like or None
        Differences between two runs of the *same* configuration with different
        seeds (METHODS.md B8: at least 5 pairs), any shape (flattened). NaN is
        ignored. None or empty: the model band from ``std_errors``.
    std_errors : array_like or None
        With A/A differences: the standard error each difference was reported
        with (same shape), to count false positives. Without: the standard
        error(s) of the contrasts to band.
    confidence : float, default: 0.95

    Returns
    -------
    NullBandResult

    Raises
    ------
    ValueError
        If there are neither A/A differences nor standard errors, or shapes differ.

    Notes
    -----
    With fewer than ``2 / (1 - confidence)`` pairs the empirical quantiles are
    the extreme differences; the false-positive rate has binomial error
    ``sqrt(p (1 - p) / n_pairs)``.

    Examples
    --------
    >>> band = null_band([0.004, -0.002, 0.001, -0.006, 0.003], std_errors=[0.002] * 5)
    >>> band.method, band.n_false_positives, band.false_positive_rate
    ('empirical', 2, 0.4)
    >>> round(null_band(std_errors=0.01).high, 4)
    0.0196
    """
    confidence = _probability_iv("confidence", confidence)
    critical = float(special.ndtri(0.5 + confidence / 2.0))
    differences = None if aa_differences is None else np.asarray(aa_differences, dtype=np.float64)
    if differences is not None and differences.size and not np.isnan(differences).all():
        if std_errors is not None:
            std_errors = np.asarray(std_errors, dtype=np.float64)
            if std_errors.shape != differences.shape:
                raise ValueError(f"`std_errors` must have the shape of `aa_differences` {differences.shape}, "
                                 f"got {std_errors.shape}.")
            if np.any(std_errors < 0):
                raise ValueError("`std_errors` must be non-negative.")
        keep = ~np.isnan(differences)
        values = differences[keep]
        symmetric = np.concatenate([values, -values])
        low, high = np.quantile(symmetric, [(1 - confidence) / 2, (1 + confidence) / 2])
        n_false, rate = None, np.nan
        if std_errors is not None:
            se = std_errors[keep]
            with np.errstate(divide="ignore", invalid="ignore"):
                exceed = np.where(se > 0, np.abs(values) / np.where(se > 0, se, 1.0) > critical, values != 0)
            n_false = int(exceed.sum())
            rate = n_false / values.size
        return NullBandResult(method="empirical", low=float(low), high=float(high), confidence=confidence,
                              critical_value=critical, n_pairs=int(values.size), n_false_positives=n_false,
                              false_positive_rate=rate, differences=values)
    if std_errors is None:
        raise ValueError("`aa_differences` or `std_errors` must be given: a null band needs A/A runs or "
                         "standard errors.")
    std_errors = _nonnegative_iv("std_errors", std_errors)
    return NullBandResult(method="model", low=_output(-critical * std_errors), high=_output(critical * std_errors),
                          confidence=confidence, critical_value=critical, n_pairs=0, n_false_positives=None,
                          false_positive_rate=1.0 - confidence, differences=np.empty(0))
