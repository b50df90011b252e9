"""Tests of expert.stats.bootstrap: the crossed bootstrap, BCa, analytic SE (METHODS.md B2-B4).

Oracles: scipy.stats.bootstrap on single-factor designs (items only, seeds only), a
naive per-replicate loop over the same resampling draws, and closed-form analytic
standard errors.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from scipy import stats

from expert.case import load_case
from expert.evidence import read_runs
from expert.stats.bootstrap import (BLOCK, DegenerateIntervalWarning, _block_rng, bca_interval, crossed_bootstrap,
                                    jackknife_acceleration, summarise)

LOO = np.array([[1.0, -1.0]])  # LOO of the second configuration relative to the first (the full model)


def paired_scores(rng, n_seeds, n_items, effect=0.05, seed_sd=0.02, item_sd=0.2, noise_sd=0.05):
    """Scores (2 configurations, seeds, items) with shared seed and item effects: a paired design."""
    seed_effect = rng.normal(0.0, seed_sd, n_seeds)
    item_effect = rng.normal(0.0, item_sd, n_items)
    base = 0.6 + seed_effect[:, None] + item_effect[None, :]
    full = base + rng.normal(0.0, noise_sd, (n_seeds, n_items))
    without = base - effect + rng.normal(0.0, noise_sd, (n_seeds, n_items))
    return np.stack([full, without])


def mean_difference(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


# ----------------------------------------------------------------------------- (a) deterministic game


def test_deterministic_game_is_exact():
    # one seed, no items: the utility of each configuration is one number on each of two benchmarks
    utilities = np.array([[0.7, 0.6, 0.65, 0.7], [0.5, 0.45, 0.3, 0.5]])
    scores = [row[:, None, None] for row in utilities]
    boot = crossed_bootstrap(scores, np.ones((4, 1), dtype=bool), n_resamples=1999, seed=1)
    weights = np.array([[1.0, -1.0, 0.0, 0.0], [1.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, -1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DegenerateIntervalWarning, no RuntimeWarning
        summaries = summarise(weights, boot)
    assert len(summaries) == 3  # two benchmarks and the macro average
    expected = [weights @ utilities[0], weights @ utilities[1], weights @ utilities.mean(axis=0)]
    for summary, values in zip(summaries, expected):
        np.testing.assert_allclose(summary.estimate, values, rtol=0, atol=1e-15)
        assert list(summary.interval) == ["exact"] * 3
        np.testing.assert_array_equal(summary.ci_low, summary.estimate)
        np.testing.assert_array_equal(summary.ci_high, summary.estimate)
        np.testing.assert_array_equal(summary.std_error, 0.0)
        np.testing.assert_array_equal(summary.se_bootstrap, 0.0)
        assert np.isnan(summary.mde).all()
        assert not summary.bca_fallback.any()
    for interval in ("bca", "percentile"):
        assert list(summarise(weights, boot, interval=interval)[0].interval) == ["exact"] * 3


# ----------------------------------------------------------------------------- (b) items only vs scipy


def test_bca_interval_equals_scipy_given_the_same_distribution():
    rng = np.random.default_rng(20240601)
    scores = paired_scores(rng, n_seeds=1, n_items=40)
    x, y = scores[0, 0], scores[1, 0]
    for confidence in (0.95, 0.8):
        result = stats.bootstrap((x, y), mean_difference, paired=True, vectorized=True, n_resamples=9999,
                                 confidence_level=confidence, method="BCa", rng=np.random.default_rng(4242))
        d = x - y
        n = len(d)
        estimate = np.array([np.mean(d)])
        leave_one_out = ((d.sum() - d) / (n - 1))[None, :]
        acceleration = jackknife_acceleration([leave_one_out])
        low, high, ok = bca_interval(np.sort(result.bootstrap_distribution)[None, :], estimate, acceleration,
                                     1 - confidence)
        assert ok[0]
        np.testing.assert_allclose(low[0], result.confidence_interval.low, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(high[0], result.confidence_interval.high, rtol=1e-12, atol=1e-14)


def test_items_only_crossed_bootstrap_matches_scipy():
    rng = np.random.default_rng(20240602)
    scores = paired_scores(rng, n_seeds=1, n_items=40)
    x, y = scores[0, 0], scores[1, 0]
    boot = crossed_bootstrap([scores], np.ones((2, 1), dtype=bool), n_resamples=9999, seed=11)
    for method, interval in (("BCa", "bca"), ("percentile", "percentile")):
        reference = stats.bootstrap((x, y), mean_difference, paired=True, vectorized=True, n_resamples=9999,
                                    method=method, rng=np.random.default_rng(12))
        summary = summarise(LOO, boot, interval=interval, analytic_below=0)[0]
        se = reference.standard_error
        assert summary.estimate[0] == pytest.approx(np.mean(x - y), rel=1e-12)
        assert summary.interval[0] == interval
        assert summary.se_bootstrap[0] == pytest.approx(se, rel=0.05)
        assert summary.std_error[0] == summary.se_bootstrap[0]
        # Monte-Carlo error of a 2.5% quantile with B = 9999 is about 0.03 SE per run
        assert summary.ci_low[0] == pytest.approx(reference.confidence_interval.low, abs=0.15 * se)
        assert summary.ci_high[0] == pytest.approx(reference.confidence_interval.high, abs=0.15 * se)


# ----------------------------------------------------------------------------- (c) seeds only vs scipy


def test_seeds_only_crossed_bootstrap_matches_scipy():
    rng = np.random.default_rng(20240603)
    scores = paired_scores(rng, n_seeds=12, n_items=1, seed_sd=0.05, noise_sd=0.02)
    x, y = scores[0, :, 0], scores[1, :, 0]
    boot = crossed_bootstrap([scores], np.ones((2, 12), dtype=bool), n_resamples=9999, seed=21)
    for method, interval in (("BCa", "bca"), ("percentile", "percentile")):
        reference = stats.bootstrap((x, y), mean_difference, paired=True, vectorized=True, n_resamples=9999,
                                    method=method, rng=np.random.default_rng(22))
        summary = summarise(LOO, boot, interval=interval, analytic_below=0)[0]
        se = reference.standard_error
        assert summary.estimate[0] == pytest.approx(np.mean(x - y), rel=1e-12)
        assert summary.se_bootstrap[0] == pytest.approx(se, rel=0.05)
        assert summary.ci_low[0] == pytest.approx(reference.confidence_interval.low, abs=0.15 * se)
        assert summary.ci_high[0] == pytest.approx(reference.confidence_interval.high, abs=0.15 * se)


# ----------------------------------------------------------------------------- (d) BCa fallback


def test_bca_interval_degenerate_when_every_replicate_is_on_one_side():
    replicates = np.sort(np.random.default_rng(5).normal(1.0, 0.1, (2, 500)), axis=1)
    estimate = np.array([replicates[0].min() - 1.0, 1.0])  # all above the first estimate
    low, high, ok = bca_interval(replicates, estimate, np.array([0.0, 0.0]), 0.05)
    assert list(ok) == [False, True]
    # where degenerate the levels fall back to the percentile levels
    assert low[0] == pytest.approx(np.quantile(replicates[0], 0.025), rel=1e-12)
    assert high[0] == pytest.approx(np.quantile(replicates[0], 0.975), rel=1e-12)
    # an undefined acceleration is degenerate too
    assert not bca_interval(replicates, np.array([1.0, 1.0]), np.array([np.nan, 0.0]), 0.05)[2][0]


def test_summarise_falls_back_to_percentile_and_flags_it():
    rng = np.random.default_rng(20240604)
    scores = paired_scores(rng, n_seeds=1, n_items=30)
    boot = crossed_bootstrap([scores], np.ones((2, 1), dtype=bool), n_resamples=999, seed=3)
    # shift the replicates of the second configuration so that every LOO replicate lies below the estimate
    shifted = boot.replicates.copy()
    shifted[:, 1] += np.ptp(shifted[:, 1]) + 1.0
    boot = dataclasses.replace(boot, replicates=shifted)
    weights = np.array([[1.0, -1.0], [1.0, 0.0]])  # the LOO row is degenerate, the full model's utility is not
    with pytest.warns(DegenerateIntervalWarning, match="BCa degenerate for 1 value"):
        summary = summarise(weights, boot, interval="bca", analytic_below=0)[0]
    assert list(summary.bca_fallback) == [True, False]
    assert list(summary.interval) == ["percentile", "bca"]
    loo = np.sort(weights[0] @ shifted[0])
    assert summary.ci_low[0] == pytest.approx(np.quantile(loo, 0.025), rel=1e-12)
    assert summary.ci_high[0] == pytest.approx(np.quantile(loo, 0.975), rel=1e-12)
    assert summary.ci_high[0] < summary.estimate[0]


# ----------------------------------------------------------------------------- (e) invariance and blocks


@pytest.fixture
def small_runs(tmp_path, write_case, make_run_table):
    """Two run tables with the same rows in different orders."""
    utilities = {"": 0.6, "work:a": 0.59, "publisher:P1": 0.55, "sector:S1": 0.4}
    table = make_run_table(utilities, n_seeds=4, n_items=7, benchmarks=("b1", "b2"), noise_sd=0.05,
                           rng=np.random.default_rng(20240605))
    shuffled = table.sample(frac=1.0, random_state=np.random.default_rng(99)).reset_index(drop=True)
    result = []
    for name, frame in (("ordered", table), ("shuffled", shuffled)):
        (tmp_path / name).mkdir()
        result.append(read_runs(load_case(write_case(tmp_path / name, runs=frame))))
    return result


def test_replicates_do_not_depend_on_row_order(small_runs):
    ordered, shuffled = small_runs
    first = crossed_bootstrap(ordered.scores, ordered.seed_mask, 300, seed=7)
    second = crossed_bootstrap(shuffled.scores, shuffled.seed_mask, 300, seed=7)
    np.testing.assert_array_equal(first.replicates, second.replicates)
    np.testing.assert_array_equal(first.utilities, second.utilities)


def test_replicates_depend_only_on_the_seed(small_runs):
    runs = small_runs[0]
    first = crossed_bootstrap(runs.scores, runs.seed_mask, 300, seed=7)
    again = crossed_bootstrap(runs.scores, runs.seed_mask, 300, seed=7)
    other = crossed_bootstrap(runs.scores, runs.seed_mask, 300, seed=8)
    np.testing.assert_array_equal(first.replicates, again.replicates)
    assert not np.allclose(first.replicates, other.replicates)
    assert first.seed == 7 and first.n_resamples == 300 and first.matched


def test_replicates_come_in_blocks(small_runs):
    runs = small_runs[0]
    assert 300 > BLOCK  # the comparison crosses a block boundary
    short = crossed_bootstrap(runs.scores, runs.seed_mask, 300, seed=7)
    long = crossed_bootstrap(runs.scores, runs.seed_mask, 600, seed=7)
    np.testing.assert_array_equal(short.replicates, long.replicates[:, :, :300])


# ----------------------------------------------------------------------------- (f) vectorised vs loop


def loop_replicates(scores, seed_mask, n_resamples, seed):
    """The crossed bootstrap written as a per-replicate loop over the same draws.

    Per block (always BLOCK replicates drawn, the first ``size`` kept): the seed draw
    first (matched: one draw of S seeds shared by every configuration; unmatched: a
    uniform per configuration and slot), then one item draw per benchmark in order.
    A replicate is the plain mean of the resampled grid.
    """
    n_configs, n_seeds = seed_mask.shape
    matched = bool(seed_mask.all())
    per_config = seed_mask.sum(axis=1)
    result = np.empty((len(scores), n_configs, n_resamples))
    for block in range(-(-n_resamples // BLOCK)):
        size = min(BLOCK, n_resamples - block * BLOCK)
        rng = _block_rng(seed, block)
        if matched:
            seed_draws = rng.integers(0, n_seeds, size=(BLOCK, n_seeds))
        else:
            uniforms = rng.random((BLOCK, n_configs, n_seeds))
        item_draws = [rng.integers(0, array.shape[2], size=(BLOCK, array.shape[2])) for array in scores]
        for b in range(size):
            for c in range(n_configs):
                if matched:
                    seeds = seed_draws[b]
                else:
                    own = np.flatnonzero(seed_mask[c])
                    seeds = own[(uniforms[b, c, : per_config[c]] * per_config[c]).astype(np.int64)]
                for k, array in enumerate(scores):
                    result[k, c, block * BLOCK + b] = array[c][np.ix_(seeds, item_draws[k][b])].mean()
    return result


def test_vectorised_equals_loop_matched():
    rng = np.random.default_rng(20240606)
    scores = [rng.normal(0.5, 0.2, (3, 4, 6)), rng.normal(0.3, 0.1, (3, 4, 2))]
    mask = np.ones((3, 4), dtype=bool)
    boot = crossed_bootstrap(scores, mask, 260, seed=5)
    np.testing.assert_allclose(boot.replicates, loop_replicates(scores, mask, 260, 5), rtol=1e-12, atol=1e-14)


def test_vectorised_equals_loop_unmatched():
    rng = np.random.default_rng(20240607)
    mask = np.array([[True, True, True, True], [True, False, True, False], [False, True, True, True]])
    scores = [rng.normal(0.5, 0.2, (3, 4, 5)), rng.normal(0.3, 0.1, (3, 4, 3))]
    for array in scores:
        array[~mask] = np.nan
    boot = crossed_bootstrap(scores, mask, 260, seed=6)
    assert not boot.matched
    np.testing.assert_allclose(boot.replicates, loop_replicates(scores, mask, 260, 6), rtol=1e-12, atol=1e-14)
    # utilities ignore the seeds a configuration was not trained with
    np.testing.assert_allclose(boot.utilities[0], [np.nanmean(scores[0][c]) for c in range(3)], rtol=1e-12)


# ----------------------------------------------------------------------------- (g) analytic SE with few seeds


def test_analytic_se_matched_seeds():
    rng = np.random.default_rng(20240608)
    n_seeds, n_items = 3, 25
    scores = paired_scores(rng, n_seeds=n_seeds, n_items=n_items, seed_sd=0.03, noise_sd=0.05)
    # a config x seed effect makes the seed component large, so the analytic SE wins
    scores[1] += np.array([0.03, -0.03, 0.0])[:, None]
    boot = crossed_bootstrap([scores], np.ones((2, n_seeds), dtype=bool), n_resamples=2000, seed=9)
    summary = summarise(LOO, boot)[0]
    # METHODS B2: SE^2 = s^2(per-seed difference)/R + s^2(item difference of seed means)/n
    per_seed = scores[0].mean(axis=1) - scores[1].mean(axis=1)
    per_item = scores[0].mean(axis=0) - scores[1].mean(axis=0)
    seed_part, item_part = per_seed.var(ddof=1) / n_seeds, per_item.var(ddof=1) / n_items
    assert summary.se_analytic[0] == pytest.approx(np.sqrt(seed_part + item_part), rel=1e-12)
    df = (seed_part + item_part) ** 2 / (seed_part**2 / (n_seeds - 1) + item_part**2 / (n_items - 1))
    assert summary.df_analytic[0] == pytest.approx(df, rel=1e-12)
    assert summary.std_error[0] == max(summary.se_bootstrap[0], summary.se_analytic[0])
    assert summary.se_analytic[0] > summary.se_bootstrap[0]
    assert summary.interval[0] in ("bca+t", "percentile+t")
    t = stats.t.ppf(0.975, df)
    assert summary.ci_low[0] <= summary.estimate[0] - t * summary.se_analytic[0] + 1e-15
    assert summary.ci_high[0] >= summary.estimate[0] + t * summary.se_analytic[0] - 1e-15
    assert summary.mde[0] == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * summary.std_error[0])
    # with enough seeds (here: the threshold lowered to 3) only the bootstrap counts
    plain = summarise(LOO, boot, analytic_below=3)[0]
    assert plain.std_error[0] == plain.se_bootstrap[0] and "+t" not in plain.interval[0]
    assert plain.ci_high[0] - plain.ci_low[0] < summary.ci_high[0] - summary.ci_low[0]


def test_analytic_se_unmatched_seeds():
    rng = np.random.default_rng(20240609)
    mask = np.array([[True, True, True, True], [True, True, False, False]])
    scores = paired_scores(rng, n_seeds=4, n_items=20)
    scores[~mask] = np.nan
    boot = crossed_bootstrap([scores], mask, n_resamples=500, seed=10)
    summary = summarise(LOO, boot)[0]
    # METHODS B2: SE^2 = s_A^2/R_A + s_B^2/R_B + s_d^2/n
    seed_a = scores[0].mean(axis=1)
    seed_b = scores[1, :2].mean(axis=1)
    per_item = scores[0].mean(axis=0) - np.nanmean(scores[1], axis=0)
    expected = seed_a.var(ddof=1) / 4 + seed_b.var(ddof=1) / 2 + per_item.var(ddof=1) / 20
    assert summary.se_analytic[0] == pytest.approx(np.sqrt(expected), rel=1e-12)
    assert summary.std_error[0] == max(summary.se_bootstrap[0], summary.se_analytic[0])


def test_macro_average_is_the_mean_of_benchmarks():
    rng = np.random.default_rng(20240610)
    scores = [paired_scores(rng, n_seeds=3, n_items=10), paired_scores(rng, n_seeds=3, n_items=15, effect=0.1)]
    boot = crossed_bootstrap(scores, np.ones((2, 3), dtype=bool), n_resamples=400, seed=2)
    summaries = summarise(LOO, boot)
    assert len(summaries) == 3
    assert summaries[2].estimate[0] == pytest.approx((summaries[0].estimate[0] + summaries[1].estimate[0]) / 2,
                                                     rel=1e-12)
    macro_replicates = (LOO @ boot.replicates[0] + LOO @ boot.replicates[1]) / 2
    assert summaries[2].se_bootstrap[0] == pytest.approx(macro_replicates.std(ddof=1), rel=1e-12)


# ----------------------------------------------------------------------------- (h) coverage


@pytest.mark.parametrize("interval, matched", [("bca", True), ("percentile", True), ("bca", False)])
def test_interval_coverage_with_a_planted_effect(interval, matched):
    rng = np.random.default_rng(20240611)
    n_seeds, n_items, true_loo = 5, 30, 0.01
    mask = np.ones((2, n_seeds), dtype=bool)
    if not matched:
        mask[1, 3:] = False  # the ablated configuration was trained with 3 of the 5 seeds
    covered = 0
    for dataset in range(200):
        utilities = np.array([0.60, 0.60 - true_loo])
        seed_effect = rng.normal(0.0, 0.02, n_seeds)
        item_effect = rng.normal(0.0, 0.2, n_items)
        config_seed = rng.normal(0.0, 0.005, (2, n_seeds))
        noise = rng.normal(0.0, 0.03, (2, n_seeds, n_items))
        scores = (utilities[:, None, None] + seed_effect[None, :, None] + item_effect[None, None, :]
                  + config_seed[:, :, None] + noise)
        scores[~mask] = np.nan
        boot = crossed_bootstrap([scores], mask, n_resamples=499, seed=dataset)
        assert boot.matched == matched
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateIntervalWarning)
            summary = summarise(LOO, boot, interval=interval)[0]
        covered += summary.ci_low[0] <= true_loo <= summary.ci_high[0]
    assert covered / 200 >= 0.88


# ----------------------------------------------------------------------------- helpers and validation


def test_jackknife_acceleration():
    values = np.array([[1.0, 2.0, 4.0, 8.0], [3.0, 3.0, 3.0, 3.0]])
    acceleration = jackknife_acceleration([values])
    n = 4
    u = (n - 1) * (values[0].mean() - values[0])
    expected = (u**3).sum() / n**3 / (6 * ((u**2).sum() / n**2) ** 1.5)
    assert acceleration[0] == pytest.approx(expected, rel=1e-14)
    assert np.isnan(acceleration[1])  # every jackknife value equal
    # two resampled units add their sums
    other = np.array([[0.5, 0.0, 1.5], [1.0, 2.0, 3.0]])
    both = jackknife_acceleration([values, other])
    v = 2 * (other[0].mean() - other[0])
    expected = ((u**3).sum() / 64 + (v**3).sum() / 27) / (6 * ((u**2).sum() / 16 + (v**2).sum() / 9) ** 1.5)
    assert both[0] == pytest.approx(expected, rel=1e-14)


def test_crossed_bootstrap_iv():
    scores = [np.zeros((2, 2, 3))]
    with pytest.raises(ValueError, match="`n_resamples` must be a positive integer."):
        crossed_bootstrap(scores, np.ones((2, 2), dtype=bool), n_resamples=0, seed=1)
    with pytest.raises(ValueError, match="every configuration must have at least one seed"):
        crossed_bootstrap(scores, np.array([[True, True], [False, False]]), n_resamples=10, seed=1)


def test_summarise_iv():
    boot = crossed_bootstrap([np.zeros((2, 1, 3))], np.ones((2, 1), dtype=bool), n_resamples=10, seed=1)
    with pytest.raises(ValueError, match=r"`interval` must be in \('bca', 'percentile'\)"):
        summarise(LOO, boot, interval="basic")
