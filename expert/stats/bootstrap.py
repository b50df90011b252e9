"""The crossed bootstrap of configuration utilities, and intervals for linear valuations.

METHODS.md B2-B4. One replicate resamples the benchmark items (per benchmark)
and the training seeds once, shares the draw across every configuration
(matched seeds are resampled jointly; unmatched seeds per configuration), and
recomputes the utility of every configuration. Every linear valuation
``W @ u`` is then valued on every replicate with one matrix product, so all
methods, groupings and differences share the same replicates.

Replicate ``b`` of configuration ``c`` on one benchmark is the bilinear form

    u*[c, b] = sum_s sum_j ws[b, s] * y[c, s, j] * wi[b, j] / (R_c * n)

with ``ws`` and ``wi`` the multinomial resampling counts of seeds and items,
computed as one dense product ``(C*S, n) @ (n, B)`` per block of replicates:
no Python loop over replicates or configurations.

Replicates are drawn in fixed blocks of :data:`BLOCK` replicates; block ``k``
draws from ``Generator(PCG64(SeedSequence(seed, spawn_key=(k,))))``, so the
replicates do not depend on memory limits, chunking or workers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy import special, stats

__all__ = [
    "BLOCK",
    "UtilityBootstrap",
    "IntervalSummary",
    "crossed_bootstrap",
    "summarise",
    "bca_interval",
    "jackknife_acceleration",
    "DegenerateIntervalWarning",
]

BLOCK = 250


class DegenerateIntervalWarning(UserWarning):
    """BCa could not be computed (e.g. all replicates on one side of the estimate); percentile used."""


@dataclass(frozen=True)
class UtilityBootstrap:
    """Crossed-bootstrap replicates of every configuration's utility.

    Attributes
    ----------
    utilities : ndarray, shape (n_benchmarks, n_configurations)
        Mean score of each configuration (over its seeds and the items).
    replicates : ndarray, shape (n_benchmarks, n_configurations, n_resamples)
        Bootstrap replicates of ``utilities``.
    seed_means : ndarray, shape (n_benchmarks, n_configurations, n_seeds)
        Mean over items of each (configuration, seed); NaN where the seed was not run.
    item_means : tuple of ndarray
        Per benchmark, shape (n_configurations, n_items): mean over seeds of each item.
    seed_mask : ndarray of bool, shape (n_configurations, n_seeds)
    matched : bool
        True when seeds were resampled jointly across configurations.
    n_resamples : int
    seed : int
        The seed of the generator the replicates came from.
    clusters : tuple of (ndarray or None)
        Per benchmark, the cluster of each item when clusters were resampled.
    """

    utilities: np.ndarray
    replicates: np.ndarray = field(repr=False)
    seed_means: np.ndarray = field(repr=False)
    item_means: tuple = field(repr=False)
    seed_mask: np.ndarray = field(repr=False)
    matched: bool
    n_resamples: int
    seed: int
    clusters: tuple = ()

    @property
    def n_benchmarks(self) -> int:
        return self.utilities.shape[0]

    @property
    def n_items(self) -> tuple[int, ...]:
        return tuple(means.shape[1] for means in self.item_means)

    @property
    def seeds_per_configuration(self) -> np.ndarray:
        return self.seed_mask.sum(axis=1)


def _block_rng(seed: int, block: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))


def _counts(indices: np.ndarray, size: int) -> np.ndarray:
    """Row-wise bincount: indices (rows, k) in [0, size) -> counts (rows, size)."""
    rows = indices.shape[0]
    offsets = (np.arange(rows, dtype=np.int64) * size)[:, None]
    return np.bincount((indices + offsets).ravel(), minlength=rows * size).reshape(rows, size).astype(np.float64)


def crossed_bootstrap(scores, seed_mask: np.ndarray, n_resamples: int, seed: int, clusters=None) -> UtilityBootstrap:
    """Resample items and seeds once per replicate, shared by every configuration.

    Parameters
    ----------
    scores : sequence of ndarray
        Per benchmark, shape (n_configurations, n_seeds, n_items); NaN where
        ``seed_mask`` is False.
    seed_mask : ndarray of bool, shape (n_configurations, n_seeds)
        Which seeds each configuration was trained with. When every
        configuration has every seed, seeds are matched and resampled jointly.
    n_resamples : int
        Number of bootstrap replicates B.
    seed : int
        Seed of the ``numpy.random.Generator`` (recorded in the result).
    clusters : sequence of (ndarray of int or None), optional
        Per benchmark, the cluster of each item. Where given, clusters are resampled
        instead of items (every item of a drawn cluster enters with the cluster's count)
        and each replicate's mean is over the resampled items (METHODS B1-B2).

    Returns
    -------
    UtilityBootstrap

    Notes
    -----
    Items are resampled independently per benchmark (different benchmarks have
    different items); the seed draw is shared by every benchmark, since one
    trained model is scored on all of them.
    """
    if n_resamples < 1:
        raise ValueError("`n_resamples` must be a positive integer.")
    seed_mask = np.asarray(seed_mask, dtype=bool)
    n_configs, n_seeds = seed_mask.shape
    if np.any(seed_mask.sum(axis=1) == 0):
        raise ValueError("every configuration must have at least one seed")
    matched = bool(seed_mask.all())
    per_config = seed_mask.sum(axis=1).astype(np.float64)
    filled = [np.where(np.isnan(array), 0.0, array).reshape(n_configs * n_seeds, array.shape[2]) for array in scores]
    n_items = [array.shape[2] for array in scores]
    clusters = list(clusters) if clusters is not None else [None] * len(scores)

    # NaN only where a seed was not run (then every item is NaN): a plain mean gives NaN there without
    # nanmean's "Mean of empty slice" warning
    seed_means = np.stack([array.mean(axis=2) for array in scores])  # (K, C, S)
    seed_means[:, ~seed_mask] = np.nan
    utilities = np.nanmean(seed_means, axis=2)
    item_means = tuple(np.nanmean(array, axis=1) for array in scores)

    # for unmatched seeds: the positions of each configuration's seeds
    present = np.zeros((n_configs, n_seeds), dtype=np.int64)
    for c in range(n_configs):
        positions = np.flatnonzero(seed_mask[c])
        present[c, : len(positions)] = positions

    replicates = np.empty((len(scores), n_configs, n_resamples))
    n_blocks = -(-n_resamples // BLOCK)
    for block in range(n_blocks):
        start = block * BLOCK
        size = min(BLOCK, n_resamples - start)
        rng = _block_rng(seed, block)
        # every block draws a full BLOCK of replicates and keeps the first `size`, so that the
        # replicates of n_resamples are a prefix of those of any larger n_resamples
        if matched:
            seed_counts = _counts(rng.integers(0, n_seeds, size=(BLOCK, n_seeds))[:size], n_seeds)  # (b, S)
        else:
            draws = (rng.random((BLOCK, n_configs, n_seeds))[:size] * per_config[None, :, None]).astype(np.int64)
            valid = np.broadcast_to(np.arange(n_seeds)[None, None, :] < per_config[None, :, None], draws.shape)
            positions = present[np.arange(n_configs)[None, :, None], draws]  # (b, C, S)
            flat = (np.arange(size)[:, None, None] * n_configs + np.arange(n_configs)[None, :, None]) * n_seeds + positions
            seed_counts = np.bincount(flat[valid], minlength=size * n_configs * n_seeds).reshape(
                size, n_configs, n_seeds).astype(np.float64)
        for k, (matrix, n) in enumerate(zip(filled, n_items)):
            membership = clusters[k]
            if membership is None:
                item_counts = _counts(rng.integers(0, n, size=(BLOCK, n))[:size], n)  # (b, n)
                drawn = np.full(size, float(n))
            else:  # resample clusters; an item counts as often as its cluster was drawn
                n_clusters = int(membership.max()) + 1
                cluster_counts = _counts(rng.integers(0, n_clusters, size=(BLOCK, n_clusters))[:size], n_clusters)
                item_counts = cluster_counts[:, membership]
                drawn = item_counts.sum(axis=1)
            totals = (matrix @ item_counts.T).reshape(n_configs, n_seeds, size)
            if matched:
                replicate = np.einsum("csb,bs->cb", totals, seed_counts)
            else:
                replicate = np.einsum("csb,bcs->cb", totals, seed_counts)
            replicates[k, :, start:start + size] = replicate / (per_config[:, None] * drawn[None, :])
    return UtilityBootstrap(utilities=utilities, replicates=replicates, seed_means=seed_means, item_means=item_means,
                            seed_mask=seed_mask, matched=matched, n_resamples=n_resamples, seed=seed,
                            clusters=tuple(clusters))


@dataclass(frozen=True)
class IntervalSummary:
    """Estimates and uncertainty of linear valuations on one benchmark (or the macro average).

    Attributes
    ----------
    estimate : ndarray, shape (n_values,)
    std_error : ndarray
        The standard error used: the bootstrap SE, or the analytic SE when it is
        larger and the configurations have fewer than 10 seeds (METHODS.md B2).
    se_bootstrap, se_analytic, df_analytic : ndarray
    ci_low, ci_high : ndarray
    interval : ndarray of str
        How each interval was obtained: ``bca``, ``percentile``, ``bca+t`` or
        ``percentile+t`` (widened to the analytic t interval), ``exact``
        (no replication at all: one seed and whole-benchmark scores, a
        deterministic game) or ``degenerate`` (replicated, but every seed and
        item gave the same difference, so every replicate is equal).
    mde : ndarray
        Minimum detectable effect at the case's power (NaN when there is no replication).
    bca_fallback : ndarray of bool
        True where BCa was asked for but was degenerate, so percentile was used.
    """

    estimate: np.ndarray
    std_error: np.ndarray
    se_bootstrap: np.ndarray
    se_analytic: np.ndarray
    df_analytic: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    interval: np.ndarray
    mde: np.ndarray
    bca_fallback: np.ndarray


def summarise(weights, boot: UtilityBootstrap, confidence: float = 0.95, interval: str = "bca",
              power: float = 0.8, analytic_below: int = 10**9) -> list[IntervalSummary]:
    """Estimates, standard errors, intervals and MDEs of ``weights @ u`` per benchmark and macro average.

    Parameters
    ----------
    weights : sparse or dense array, shape (n_values, n_configurations)
    boot : UtilityBootstrap
    confidence : float
        Two-sided confidence level.
    interval : {'bca', 'percentile'}
    power : float
        Power for the minimum detectable effect.
    analytic_below : int
        Also compute the analytic t-based SE (and use it when larger) when a configuration has
        fewer seeds than this. METHODS B2 says 10; the default applies it at every seed count,
        because the coverage study (bench/bench_coverage.py) found the bootstrap short at 10 seeds.

    Returns
    -------
    list of IntervalSummary
        One per benchmark, then one for the macro average over benchmarks.
    """
    if interval not in ("bca", "percentile"):
        raise ValueError("`interval` must be in ('bca', 'percentile')")
    weights = sp.csr_array(weights)
    n_bench = boot.n_benchmarks
    alpha = 1.0 - confidence
    z_mde = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    use_analytic = int(boot.seeds_per_configuration.min()) < analytic_below

    estimates = [weights @ boot.utilities[k] for k in range(n_bench)]
    # analytic components and jackknife samples per benchmark
    seed_parts, item_parts, seed_jack, item_jack, seed_df, item_df = [], [], [], [], [], []
    for k in range(n_bench):
        seed_part, df_seed, seed_values = _seed_component(weights, boot.seed_means[k], boot.seed_mask, boot.matched)
        seed_parts.append(seed_part)
        seed_jack.append(seed_values)
        seed_df.append(df_seed)
        d = weights @ boot.item_means[k]  # (V, n)
        n = d.shape[1]
        membership = boot.clusters[k] if k < len(boot.clusters) else None
        if membership is None:
            item_parts.append(d.var(axis=1, ddof=1) / n if n > 1 else np.zeros(d.shape[0]))
            item_jack.append((n * estimates[k][:, None] - d) / (n - 1) if n > 1 else None)
            item_df.append(n - 1)
        else:
            # clustered SE (Miller 2024): (1/n^2) sum_c (sum_{j in c} (d_j - mean d))^2; jackknife leaves a cluster out
            n_clusters = int(membership.max()) + 1
            centred = d - d.mean(axis=1, keepdims=True)
            sums = np.zeros((d.shape[0], n_clusters))
            np.add.at(sums.T, membership, centred.T)
            item_parts.append((sums**2).sum(axis=1) / n**2 if n_clusters > 1 else np.zeros(d.shape[0]))
            cluster_totals = np.zeros((d.shape[0], n_clusters))
            np.add.at(cluster_totals.T, membership, d.T)
            sizes = np.bincount(membership, minlength=n_clusters)
            item_jack.append((n * estimates[k][:, None] - cluster_totals) / (n - sizes)[None, :]
                             if n_clusters > 1 else None)
            item_df.append(n_clusters - 1)

    summaries = []
    for k in range(n_bench + 1):
        if k < n_bench:
            estimate = estimates[k]
            replicates = weights @ boot.replicates[k]
            components = [(seed_parts[k], seed_df[k]), (item_parts[k], item_df[k])]
            samples = [sample for sample in (item_jack[k], seed_jack[k]) if sample is not None]
        else:
            estimate = np.mean(estimates, axis=0)
            replicates = sum(weights @ boot.replicates[j] for j in range(n_bench)) / n_bench
            macro_seed = boot.seed_means.mean(axis=0)  # NaN where the seed was not run, as in every benchmark
            seed_part, df_seed, seed_values = _seed_component(weights, macro_seed, boot.seed_mask, boot.matched)
            components = [(seed_part, df_seed)] + [
                (item_parts[j] / n_bench**2, item_df[j]) for j in range(n_bench)]
            samples = [estimate[:, None] + (item_jack[j] - estimates[j][:, None]) / n_bench
                       for j in range(n_bench) if item_jack[j] is not None]
            if seed_values is not None:
                samples.append(seed_values)
        replicated = (max(boot.n_items[k:k + 1] if k < n_bench else boot.n_items) > 1
                      or int(boot.seeds_per_configuration.max()) > 1)
        summaries.append(_summary(estimate, np.asarray(replicates), components, samples, alpha, interval,
                                  z_mde, use_analytic, replicated))
    return summaries


def _seed_component(weights, seed_means, seed_mask, matched):
    """Analytic seed variance of ``W @ u``, its df, and the leave-one-seed-out values."""
    per_config = seed_mask.sum(axis=1)
    n_values = weights.shape[0]
    if matched:
        n_seeds = seed_mask.shape[1]
        if n_seeds < 2:
            return np.zeros(n_values), 0, None
        per_seed = weights @ seed_means  # (V, S)
        part = per_seed.var(axis=1, ddof=1) / n_seeds
        jack = (n_seeds * (weights @ np.nanmean(seed_means, axis=1))[:, None] - per_seed) / (n_seeds - 1)
        return part, n_seeds - 1, jack
    variance = np.zeros(seed_means.shape[0])
    several = per_config >= 2
    variance[several] = np.nanvar(seed_means[several], axis=1, ddof=1) / per_config[several]
    squared = weights.multiply(weights) if sp.issparse(weights) else weights**2
    part = np.asarray(squared @ variance)
    df = max(int(per_config.min()) - 1, 0)
    # leave one seed label out: configurations without that seed keep their utility
    utilities = np.nanmean(seed_means, axis=1)
    labels = [s for s in range(seed_mask.shape[1]) if seed_mask[:, s].sum() and np.all(per_config[seed_mask[:, s]] >= 2)]
    if not labels:
        return part, df, None
    jack = []
    for s in labels:
        dropped = utilities.copy()
        has = seed_mask[:, s]
        dropped[has] = (per_config[has] * utilities[has] - seed_means[has, s]) / (per_config[has] - 1)
        jack.append(weights @ dropped)
    return part, df, np.stack(jack, axis=1)


def _summary(estimate, replicates, components, samples, alpha, interval, z_mde, use_analytic,
             replicated=True) -> IntervalSummary:
    n_values = len(estimate)
    se_boot = replicates.std(axis=1, ddof=1) if replicates.shape[1] > 1 else np.zeros(n_values)
    # identical replicates (a deterministic game) can still give a std of ~1e-17 from rounding in the mean
    se_boot = np.where(np.ptp(replicates, axis=1) == 0, 0.0, se_boot) if replicates.shape[1] else se_boot
    parts = np.stack([part for part, _ in components])
    se_analytic = np.sqrt(parts.sum(axis=0))
    # Satterthwaite degrees of freedom over the components that have any
    numerator = parts.sum(axis=0) ** 2
    denominator = np.zeros(n_values)
    for part, df in components:
        if df > 0:
            denominator += part**2 / df
    with np.errstate(divide="ignore", invalid="ignore"):
        df_analytic = np.where(denominator > 0, numerator / denominator, np.inf)

    sorted_replicates = np.sort(replicates, axis=1)
    low_p, high_p = _quantiles(sorted_replicates, np.full(n_values, alpha / 2)), _quantiles(
        sorted_replicates, np.full(n_values, 1 - alpha / 2))
    fallback = np.zeros(n_values, dtype=bool)
    if interval == "bca":
        acceleration = jackknife_acceleration(samples) if samples else np.full(n_values, np.nan)
        low, high, ok = bca_interval(sorted_replicates, estimate, acceleration, alpha)
        fallback = ~ok
        low = np.where(ok, low, low_p)
        high = np.where(ok, high, high_p)
        method = np.where(ok, "bca", "percentile")
    else:
        low, high = low_p, high_p
        method = np.full(n_values, "percentile")
    method = method.astype(object)

    std_error = se_boot.copy()
    if use_analytic:
        wider = se_analytic > se_boot
        std_error = np.maximum(se_boot, se_analytic)
        t = np.where(np.isfinite(df_analytic), stats.t.ppf(1 - alpha / 2, np.maximum(df_analytic, 1e-9)),
                     stats.norm.ppf(1 - alpha / 2))
        low = np.where(wider, np.minimum(low, estimate - t * se_analytic), low)
        high = np.where(wider, np.maximum(high, estimate + t * se_analytic), high)
        method = np.where(wider, method + "+t", method)
    exact = (std_error == 0) & (se_boot == 0)
    # no replication at all: a deterministic game; with replication, every replicate agreed exactly
    method = np.where(exact, "exact" if not replicated else "degenerate", method)
    low = np.where(exact, estimate, low)
    high = np.where(exact, estimate, high)
    fallback = fallback & ~exact
    mde = np.where(exact, np.nan, z_mde * std_error)
    if fallback.any():
        warnings.warn(f"BCa degenerate for {int(fallback.sum())} value(s); percentile interval used",
                      DegenerateIntervalWarning, stacklevel=3)
    return IntervalSummary(estimate=estimate, std_error=std_error, se_bootstrap=se_boot, se_analytic=se_analytic,
                           df_analytic=df_analytic, ci_low=low, ci_high=high, interval=np.asarray(method, dtype=object), mde=mde,
                           bca_fallback=fallback)


def jackknife_acceleration(samples) -> np.ndarray:
    """BCa acceleration from jackknife values over one or more resampled units.

    Parameters
    ----------
    samples : list of ndarray
        One array per resampled unit (e.g. items, seeds), shape (n_values, n_j):
        the statistic with each element of that unit left out.

    Returns
    -------
    ndarray, shape (n_values,)
        ``a = sum_j sum_i U_ji^3 / n_j^3 / (6 (sum_j sum_i U_ji^2 / n_j^2)^(3/2))`` with
        ``U_ji = (n_j - 1)(mean_i theta_ji - theta_ji)``, as scipy.stats.bootstrap
        computes it for several samples. NaN where every jackknife value is equal.
    """
    numerator, denominator = 0.0, 0.0
    for values in samples:
        n = values.shape[1]
        u = (n - 1) * (values.mean(axis=1, keepdims=True) - values)
        numerator = numerator + (u**3).sum(axis=1) / n**3
        denominator = denominator + (u**2).sum(axis=1) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / (6 * np.power(denominator, 1.5)), np.nan)


def bca_interval(sorted_replicates: np.ndarray, estimate: np.ndarray, acceleration: np.ndarray, alpha: float):
    """Bias-corrected and accelerated interval (Efron 1987) for each row.

    Parameters
    ----------
    sorted_replicates : ndarray, shape (n_values, B)
        Bootstrap replicates, sorted along axis 1.
    estimate : ndarray, shape (n_values,)
    acceleration : ndarray, shape (n_values,)
    alpha : float
        One minus the confidence level.

    Returns
    -------
    low, high : ndarray
    ok : ndarray of bool
        False where the bias correction is infinite or the acceleration undefined
        (degenerate: the caller falls back to the percentile interval).
    """
    n = sorted_replicates.shape[1]
    below = _count_less(sorted_replicates, estimate, strict=True)
    at_or_below = _count_less(sorted_replicates, estimate, strict=False)
    proportion = (below + at_or_below) / (2.0 * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = special.ndtri(proportion)
        z_low, z_high = special.ndtri(alpha / 2), special.ndtri(1 - alpha / 2)
        level_low = special.ndtr(z0 + (z0 + z_low) / (1 - acceleration * (z0 + z_low)))
        level_high = special.ndtr(z0 + (z0 + z_high) / (1 - acceleration * (z0 + z_high)))
    ok = np.isfinite(z0) & np.isfinite(acceleration) & np.isfinite(level_low) & np.isfinite(level_high)
    level_low = np.where(ok, level_low, alpha / 2)
    level_high = np.where(ok, level_high, 1 - alpha / 2)
    return _quantiles(sorted_replicates, level_low), _quantiles(sorted_replicates, level_high), ok


def _count_less(sorted_rows: np.ndarray, values: np.ndarray, strict: bool) -> np.ndarray:
    values = np.asarray(values)[:, None]
    return ((sorted_rows < values) if strict else (sorted_rows <= values)).sum(axis=1).astype(np.float64)


def _quantiles(sorted_rows: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Per-row quantile at per-row levels, numpy's 'linear' method, on pre-sorted rows."""
    n = sorted_rows.shape[1]
    position = np.clip(levels, 0.0, 1.0) * (n - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, n - 1)
    fraction = position - lower
    rows = np.arange(sorted_rows.shape[0])
    low_values = sorted_rows[rows, lower]
    high_values = sorted_rows[rows, upper]
    return low_values + fraction * (high_values - low_values)
