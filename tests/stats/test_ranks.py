"""Tests of expert.stats.ranks: rank intervals, P(top-k), rank correlations, near ties (METHODS.md B7).

Oracles: planted cases with exact ranks (well-separated values) and exact ties; a naive
per-replicate loop using scipy.stats.rankdata, spearmanr and kendalltau; brute-force
pair enumeration for near ties.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from expert.stats.bootstrap import crossed_bootstrap
from expert.stats.ranks import competition_ranks, rank_stability


def noisy_replicates(rng, estimate, sd, n_resamples):
    return estimate[:, None] + rng.normal(0.0, sd, (estimate.size, n_resamples))


def test_well_separated_values_have_exact_ranks(rng):
    estimate = np.array([0.3, 1.0, 0.1, 0.6, -0.2])
    result = rank_stability(noisy_replicates(rng, estimate, 0.01, 500), estimate, top_k=2)
    expected = [3, 1, 4, 2, 5]
    assert result.point_rank.tolist() == expected
    assert result.rank_low.tolist() == expected and result.rank_high.tolist() == expected
    np.testing.assert_array_equal(result.median_rank, expected)
    np.testing.assert_array_equal(result.p_top_k, [0, 1, 0, 1, 0])
    np.testing.assert_allclose(result.kendall_tau, 1.0, rtol=1e-12)
    np.testing.assert_allclose(result.spearman_rho, 1.0, rtol=1e-12)
    np.testing.assert_array_equal(result.jaccard_top_k, 1.0)
    assert result.kendall_tau_p05 == pytest.approx(1.0) and result.spearman_rho_median == pytest.approx(1.0)
    assert result.jaccard_top_k_p05 == 1.0
    assert result.near_tie_pairs.shape == (0, 2)


def test_exact_ties_share_the_ranks_they_span(rng):
    # values 0 and 1 are identical in every replicate and tied for first
    base = rng.normal(0.0, 0.01, 400)
    replicates = np.stack([5 + base, 5 + base, 1 + base, 0 + base])
    estimate = np.array([5.0, 5.0, 1.0, 0.0])
    result = rank_stability(replicates, estimate, top_k=1)
    assert result.point_rank.tolist() == [1, 1, 3, 4]
    assert result.rank_low.tolist() == [1, 1, 3, 4]
    assert result.rank_high.tolist() == [2, 2, 3, 4]
    np.testing.assert_array_equal(result.median_rank, [1.5, 1.5, 3, 4])
    np.testing.assert_allclose(result.p_top_k, [0.5, 0.5, 0, 0])
    # the order of the replicates equals the point order, ties included
    np.testing.assert_allclose(result.spearman_rho, 1.0)
    np.testing.assert_allclose(result.kendall_tau, 1.0)


def test_competition_ranks_match_rankdata():
    values = np.array([0.1, 0.3, 0.3, 0.2, -1.0, 0.3])
    np.testing.assert_array_equal(competition_ranks(values), stats.rankdata(-values, method="min"))
    matrix = np.random.default_rng(1).integers(0, 4, (7, 5)).astype(float)
    np.testing.assert_array_equal(competition_ranks(matrix), stats.rankdata(-matrix, method="min", axis=0))


def naive_rank_stability(replicates, estimate, confidence, top_k):
    """Per-replicate loop with scipy; rank intervals from inverted-CDF quantiles of min/max ranks."""
    low = stats.rankdata(-replicates, method="min", axis=0)
    high = stats.rankdata(-replicates, method="max", axis=0)
    alpha = 1 - confidence
    rank_low = np.quantile(low, alpha / 2, axis=1, method="inverted_cdf")
    rank_high = np.quantile(high, 1 - alpha / 2, axis=1, method="inverted_cdf")
    spearman = np.array([stats.spearmanr(estimate, column).statistic for column in replicates.T])
    kendall = np.array([stats.kendalltau(estimate, column).statistic for column in replicates.T])
    point_top = stats.rankdata(-estimate, method="min") <= top_k
    top = low <= top_k
    jaccard = (top & point_top[:, None]).sum(axis=0) / (top | point_top[:, None]).sum(axis=0)
    return rank_low, rank_high, spearman, kendall, jaccard


@pytest.mark.parametrize("rounding", [None, 1])  # rounding to 1 decimal creates ties in replicates
def test_agrees_with_naive_loop(rng, rounding):
    estimate = np.linspace(0, 1, 12) + rng.normal(0, 0.02, 12)
    replicates = noisy_replicates(rng, estimate, 0.15, 301)
    if rounding is not None:
        replicates = np.round(replicates, rounding)
    result = rank_stability(replicates, estimate, confidence=0.9, top_k=3, chunk_size=64)
    rank_low, rank_high, spearman, kendall, jaccard = naive_rank_stability(replicates, estimate, 0.9, 3)
    np.testing.assert_array_equal(result.rank_low, rank_low)
    np.testing.assert_array_equal(result.rank_high, rank_high)
    np.testing.assert_allclose(result.spearman_rho, spearman, rtol=1e-12)
    np.testing.assert_allclose(result.kendall_tau, kendall, rtol=1e-12)
    np.testing.assert_allclose(result.jaccard_top_k, jaccard, rtol=1e-12)
    assert result.spearman_rho_median == pytest.approx(np.median(spearman))
    assert result.kendall_tau_p05 == pytest.approx(np.percentile(kendall, 5))
    assert result.p_top_k.sum() == pytest.approx(3)
    assert np.all(result.rank_low <= result.rank_high)


def test_p_top_k_without_ties_is_share_of_replicates(rng):
    estimate = np.array([1.0, 0.9, 0.0])
    replicates = noisy_replicates(rng, estimate, 0.1, 2000)
    result = rank_stability(replicates, estimate, top_k=1)
    first = np.argmax(replicates, axis=0)
    np.testing.assert_allclose(result.p_top_k, np.bincount(first, minlength=3) / 2000)


def test_chunk_size_invariance(rng):
    estimate = rng.normal(0, 1, 30)
    replicates = noisy_replicates(rng, estimate, 0.5, 257)
    one = rank_stability(replicates, estimate, top_k=5, mde=0.3, chunk_size=1000)
    many = rank_stability(replicates, estimate, top_k=5, mde=0.3, chunk_size=10)
    for name in ("rank_low", "rank_high", "median_rank", "p_top_k", "kendall_tau", "spearman_rho", "jaccard_top_k",
                 "near_tie_pairs"):
        np.testing.assert_allclose(getattr(one, name), getattr(many, name), rtol=1e-12, err_msg=name)


def test_near_ties_match_brute_force(rng):
    estimate = rng.normal(0, 1, 60)
    mde = rng.uniform(0.0, 0.3, 60)
    mde[5] = np.nan
    result = rank_stability(noisy_replicates(rng, estimate, 0.1, 20), estimate, mde=mde, kendall=False)
    expected = [(a, b) for a in range(60) for b in range(a + 1, 60)
                if abs(estimate[a] - estimate[b]) < np.nanmax([mde[a], mde[b]])]
    assert [tuple(pair) for pair in result.near_tie_pairs.tolist()] == expected
    np.testing.assert_allclose(result.near_tie_gaps, [abs(estimate[a] - estimate[b]) for a, b in expected])
    assert np.isnan(result.kendall_tau).all() and np.isnan(result.kendall_tau_median)
    # a scalar MDE
    scalar = rank_stability(noisy_replicates(rng, estimate, 0.1, 20), estimate, mde=0.05, kendall=False)
    expected = [(a, b) for a in range(60) for b in range(a + 1, 60) if abs(estimate[a] - estimate[b]) < 0.05]
    assert [tuple(pair) for pair in scalar.near_tie_pairs.tolist()] == expected
    frame = scalar.to_frame()
    assert frame["n_near_ties"].sum() == 2 * len(expected)


def test_ranks_of_loo_values_from_the_crossed_bootstrap(rng):
    # 4 groups with planted, well-separated LOO effects and one near tie
    effects = np.array([0.0, 0.08, 0.04, 0.0405, 0.01])  # configuration 0 is the full model
    n_seeds, n_items = 5, 400
    seed_effect = rng.normal(0, 0.01, n_seeds)[:, None]
    item_effect = rng.normal(0, 0.2, n_items)[None, :]
    scores = np.stack([0.6 - e + seed_effect + item_effect + rng.normal(0, 0.02, (n_seeds, n_items))
                       for e in effects])
    boot = crossed_bootstrap([scores], np.ones((5, n_seeds), dtype=bool), n_resamples=400, seed=7)
    weights = sp.hstack([sp.csr_array(np.ones((4, 1))), -sp.identity(4)]).tocsr()
    estimate = weights @ boot.utilities[0]
    replicates = weights @ boot.replicates[0]
    result = rank_stability(replicates, estimate, top_k=1, mde=0.005)
    assert sorted(result.point_rank[1:3].tolist()) == [2, 3] and result.point_rank[[0, 3]].tolist() == [1, 4]
    assert result.rank_low[0] == result.rank_high[0] == 1 and result.p_top_k[0] == 1.0
    assert result.rank_low[3] == result.rank_high[3] == 4
    assert result.rank_low[1] == 2 and result.rank_high[1] == 3  # the near tie swaps
    assert result.near_tie_pairs.tolist() == [[1, 2]]


def test_rank_stability_iv():
    replicates = np.zeros((3, 10))
    message = "`replicates` must be a 2-D array (n_values, n_resamples), got shape (3,)."
    with pytest.raises(ValueError, match=re.escape(message)):
        rank_stability(np.zeros(3), np.zeros(3))
    message = "`estimate` must have shape (3,), one per row of `replicates`, got (2,)."
    with pytest.raises(ValueError, match=re.escape(message)):
        rank_stability(replicates, np.zeros(2))
    message = "`replicates` must be finite."
    with pytest.raises(ValueError, match=re.escape(message)):
        rank_stability(np.full((3, 10), np.nan), np.zeros(3))
    message = "`top_k` must be a positive integer, got 0."
    with pytest.raises(ValueError, match=re.escape(message)):
        rank_stability(replicates, np.zeros(3), top_k=0)
    message = "`confidence` must be a number in (0, 1), got 95."
    with pytest.raises(ValueError, match=re.escape(message)):
        rank_stability(replicates, np.zeros(3), confidence=95)
    message = "`mde` must be non-negative (NaN: no threshold)."
    with pytest.raises(ValueError, match=re.escape(message)):
        rank_stability(replicates, np.zeros(3), mde=-1)


def test_docstring_examples():
    import doctest

    import expert.stats.ranks as module

    outcome = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert outcome.attempted > 0 and outcome.failed == 0
