"""Tests of expert.stats.power: MDE, planning grid, seeds needed, per-work scaling, null bands (METHODS.md B4, B8).

Oracles: the closed-form identities of B4 (2.80 SE; the seeds formula inverts the SE
model; ``|G|^2`` scaling without an item floor), the exact power of a two-sided z-test at
the MDE, and binomial calibration of the A/A false-positive rate.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats

from expert.stats.power import (item_floor, mde_multiplier, minimum_detectable_effect, null_band, per_work_scaling,
                                power_grid, seeds_needed)


def se_model(seed_sd, item_sd, n_seeds, n_items, rho=0.0):
    return np.sqrt(2 * seed_sd**2 * (1 - rho) / n_seeds + item_sd**2 / n_items)


# ----------------------------------------------------------------------------- MDE


def test_mde_is_2_80_standard_errors():
    assert mde_multiplier() == pytest.approx(stats.norm.ppf(0.975) + stats.norm.ppf(0.8), rel=1e-12)
    assert mde_multiplier() == pytest.approx(2.8016, abs=1e-4)
    se = np.array([0.0, 0.01, 0.5])
    np.testing.assert_allclose(minimum_detectable_effect(se), 2.801585218 * se, rtol=1e-9)
    assert isinstance(minimum_detectable_effect(0.01), float)


def test_mde_has_the_stated_power():
    # a two-sided z-test at level alpha has exactly `power` (plus the negligible far tail) at delta = MDE
    for alpha, power in [(0.05, 0.8), (0.01, 0.9), (0.1, 0.5)]:
        mde = minimum_detectable_effect(1.0, alpha=alpha, power=power)
        z = stats.norm.ppf(1 - alpha / 2)
        achieved = stats.norm.sf(z - mde) + stats.norm.cdf(-z - mde)
        assert power <= achieved < power + 1e-3


def test_mde_holm_family_uses_bonferroni_critical_value():
    m = 10_000
    expected = (stats.norm.ppf(1 - 0.05 / (2 * m)) + stats.norm.ppf(0.8)) * 0.01
    assert minimum_detectable_effect(0.01, n_tests=m) == pytest.approx(expected, rel=1e-12)
    assert minimum_detectable_effect(0.01, n_tests=m) > minimum_detectable_effect(0.01)


def test_mde_with_df_uses_t_quantiles():
    df = np.array([2.0, 9.0, np.inf])
    expected = stats.t.ppf(0.975, [2, 9, 1e12]) + stats.t.ppf(0.8, [2, 9, 1e12])
    np.testing.assert_allclose(mde_multiplier(df=df), expected, rtol=1e-6)
    np.testing.assert_allclose(minimum_detectable_effect([1.0, 1.0, 1.0], df=df), expected, rtol=1e-6)


def test_mde_nan_standard_error_gives_nan():
    assert np.isnan(minimum_detectable_effect(np.nan))


def test_minimum_detectable_effect_iv():
    message = "`alpha` must be a number in (0, 1), got 1.5."
    with pytest.raises(ValueError, match=re.escape(message)):
        minimum_detectable_effect(0.01, alpha=1.5)
    message = "`power` must be a number in (0, 1), got 'high'."
    with pytest.raises(ValueError, match=re.escape(message)):
        minimum_detectable_effect(0.01, power="high")
    message = "`n_tests` must be a positive integer, got 0."
    with pytest.raises(ValueError, match=re.escape(message)):
        minimum_detectable_effect(0.01, n_tests=0)
    message = "`std_error` must be non-negative"
    with pytest.raises(ValueError, match=re.escape(message)):
        minimum_detectable_effect(-0.01)
    message = "`df` must be positive (or inf)"
    with pytest.raises(ValueError, match=re.escape(message)):
        minimum_detectable_effect(0.01, df=0)


# ----------------------------------------------------------------------------- grid and floor


def test_power_grid_matches_variance_model():
    grid = power_grid(0.012, 0.25, seeds=(3, 5, 10), items=(200, 1000), rho=0.3, n_tests=4)
    multiplier = mde_multiplier(n_tests=4)
    for i, r in enumerate(grid.seeds):
        for j, n in enumerate(grid.items):
            se = se_model(0.012, 0.25, r, n, rho=0.3)
            assert grid.std_error[i, j] == pytest.approx(se, rel=1e-12)
            assert grid.mde[i, j] == pytest.approx(multiplier * se, rel=1e-12)
    np.testing.assert_allclose(grid.item_floor, multiplier * 0.25 / np.sqrt([200, 1000]), rtol=1e-12)
    # more seeds or items never hurt, and the MDE never falls below the item floor
    assert np.all(np.diff(grid.mde, axis=0) < 0) and np.all(np.diff(grid.mde, axis=1) < 0)
    assert np.all(grid.mde > grid.item_floor[None, :])
    frame = grid.to_frame()
    assert list(frame.columns) == ["seeds", "items", "std_error", "mde", "item_floor"]
    assert len(frame) == 6
    assert frame.loc[(frame.seeds == 5) & (frame["items"] == 1000), "mde"].item() == pytest.approx(grid.mde[1, 1])


def test_power_grid_iv():
    message = "`seeds` must be a non-empty sequence of positive integers, got (3, 0)."
    with pytest.raises(ValueError, match=re.escape(message)):
        power_grid(0.01, 0.2, seeds=(3, 0))
    message = "`items` must be a non-empty sequence of positive integers, got (100.5,)."
    with pytest.raises(ValueError, match=re.escape(message)):
        power_grid(0.01, 0.2, items=(100.5,))
    message = "`rho` must be in [-1, 1], got 2."
    with pytest.raises(ValueError, match=re.escape(message)):
        power_grid(0.01, 0.2, rho=2)
    message = "`seed_sd` must be a non-negative number, got -1."
    with pytest.raises(ValueError, match=re.escape(message)):
        power_grid(-1, 0.2)


def test_item_floor_is_mde_with_infinite_seeds():
    floor = item_floor(0.2, 1000)
    assert floor == pytest.approx(mde_multiplier() * 0.2 / np.sqrt(1000), rel=1e-12)
    grid = power_grid(0.01, 0.2, seeds=(10**9,), items=(1000,))
    assert grid.mde[0, 0] == pytest.approx(floor, rel=1e-6)
    # four times the items halve the floor
    low, high = item_floor(0.2, [250, 1000])
    assert low == pytest.approx(2 * high, rel=1e-12) and high == pytest.approx(floor, rel=1e-12)


# ----------------------------------------------------------------------------- seeds needed


def test_seeds_needed_is_the_smallest_sufficient_count():
    # MDE(R) <= delta and MDE(R - 1) > delta, over a grid of designs
    rng = np.random.default_rng(20240601)
    for _ in range(300):
        seed_sd = rng.uniform(0.001, 0.05)
        item_sd = rng.uniform(0.0, 0.5)
        n_items = int(rng.integers(50, 5000))
        rho = rng.uniform(-0.5, 0.9)
        n_tests = int(rng.integers(1, 100))
        floor = item_floor(item_sd, n_items, n_tests=n_tests)
        delta = floor * rng.uniform(1.01, 5) + rng.uniform(0, 0.01)
        r = seeds_needed(delta, seed_sd, item_sd, n_items, rho=rho, n_tests=n_tests)
        assert np.isfinite(r) and r >= 1 and r == int(r)
        multiplier = mde_multiplier(n_tests=n_tests)
        assert multiplier * se_model(seed_sd, item_sd, r, n_items, rho) <= delta * (1 + 1e-12)
        if r > 1:
            assert multiplier * se_model(seed_sd, item_sd, r - 1, n_items, rho) > delta


def test_seeds_needed_matches_formula_and_grid():
    m = mde_multiplier()
    raw = 2 * 0.01**2 * m**2 / (0.03**2 - m**2 * 0.2**2 / 1000)
    assert seeds_needed(0.03, 0.01, 0.2, 1000) == np.ceil(raw) == 3
    grid = power_grid(0.01, 0.2, seeds=(2, 3), items=(1000,))
    assert grid.mde[0, 0] > 0.03 >= grid.mde[1, 0]
    # the sign of delta does not matter; arrays broadcast
    np.testing.assert_array_equal(seeds_needed([-0.03, 0.03, 0.06], 0.01, 0.2, 1000), [3, 3, 1])


def test_seeds_needed_is_infinite_at_or_below_the_item_floor():
    floor = item_floor(0.2, 1000)
    assert seeds_needed(floor, 0.01, 0.2, 1000) == np.inf
    assert seeds_needed(0.5 * floor, 0.01, 0.2, 1000) == np.inf
    assert np.isfinite(seeds_needed(1.001 * floor, 0.01, 0.2, 1000))


def test_seeds_needed_without_seed_variance_is_one():
    assert seeds_needed(0.05, 0.0, 0.2, 1000) == 1
    assert seeds_needed(0.05, 0.02, 0.2, 1000, rho=1.0) == 1


def test_seeds_needed_iv():
    message = "`n_items` must be positive"
    with pytest.raises(ValueError, match=re.escape(message)):
        seeds_needed(0.03, 0.01, 0.2, 0)
    message = "`item_sd_paired` must be non-negative"
    with pytest.raises(ValueError, match=re.escape(message)):
        seeds_needed(0.03, 0.01, -0.2, 100)
    message = "`delta` must be a number"
    with pytest.raises(ValueError, match=re.escape(message)):
        seeds_needed(np.nan, 0.01, 0.2, 100)


# ----------------------------------------------------------------------------- per-work scaling


def test_per_work_scaling_is_group_size_squared_without_item_floor():
    sizes = np.array([1, 2, 5, 40])
    result = per_work_scaling(0.08, sizes, seed_sd=0.01, item_sd_paired=0.0, n_items=1000)
    np.testing.assert_allclose(result.work_effect, 0.08 / sizes)
    np.testing.assert_allclose(result.seed_ratio, sizes.astype(float) ** 2, rtol=1e-12)
    np.testing.assert_array_equal(result.seeds_for_group, seeds_needed(0.08, 0.01, 0.0, 1000))
    np.testing.assert_array_equal(result.seeds_for_work, seeds_needed(0.08 / sizes, 0.01, 0.0, 1000))
    assert not result.below_item_floor.any()


def test_per_work_scaling_with_item_floor_costs_more_or_is_impossible():
    result = per_work_scaling(0.06, np.array([2, 4, 20]), seed_sd=0.01, item_sd_paired=0.2, n_items=2000)
    floor = item_floor(0.2, 2000)
    np.testing.assert_allclose(result.item_floor, floor)
    assert result.seed_ratio[0] > 4 and result.seed_ratio[1] > 16
    assert result.below_item_floor.tolist() == [False, False, True]
    assert result.seeds_for_work[2] == np.inf and result.seed_ratio[2] == np.inf


def test_per_work_scaling_iv():
    message = "`group_size` must be a positive integer"
    with pytest.raises(ValueError, match=re.escape(message)):
        per_work_scaling(0.05, 0, 0.01, 0.2, 100)


# ----------------------------------------------------------------------------- null band


def test_null_band_empirical_quantiles_and_false_positives():
    differences = np.array([0.004, -0.002, 0.001, -0.006, 0.003])
    band = null_band(differences, std_errors=np.full(5, 0.002))
    symmetric = np.concatenate([differences, -differences])
    assert band.method == "empirical"
    assert (band.low, band.high) == pytest.approx(tuple(np.quantile(symmetric, [0.025, 0.975])))
    assert band.low == pytest.approx(-band.high)
    # |d| / SE = 2, 1, 0.5, 3, 1.5 against z = 1.96
    assert band.n_false_positives == 2 and band.false_positive_rate == pytest.approx(0.4)
    assert band.n_pairs == 5
    without = null_band(differences)
    assert without.n_false_positives is None and np.isnan(without.false_positive_rate)


def test_null_band_calibrated_when_standard_errors_are_right():
    rng = np.random.default_rng(20240601)
    n = 4000
    se = rng.uniform(0.005, 0.02, n)
    band = null_band(rng.normal(0.0, se), std_errors=se)
    # binomial Monte-Carlo error of a 5 % rate with 4,000 pairs is 0.0034; allow 4 of them
    assert abs(band.false_positive_rate - 0.05) < 4 * np.sqrt(0.05 * 0.95 / n)


def test_null_band_model_based_without_aa_runs():
    band = null_band(None, std_errors=np.array([0.01, 0.02]), confidence=0.9)
    assert band.method == "model" and band.n_pairs == 0
    np.testing.assert_allclose(band.high, stats.norm.ppf(0.95) * np.array([0.01, 0.02]))
    np.testing.assert_allclose(band.low, -band.high)
    assert band.false_positive_rate == pytest.approx(0.1)
    # empty A/A differences fall back to the model band
    assert null_band([], std_errors=0.01).method == "model"


def test_null_band_ignores_nan_differences():
    band = null_band([0.01, np.nan, -0.02], std_errors=[0.001, 0.001, 0.1])
    assert band.n_pairs == 2 and band.n_false_positives == 1


def test_null_band_iv():
    message = "`aa_differences` or `std_errors` must be given"
    with pytest.raises(ValueError, match=re.escape(message)):
        null_band()
    message = "`std_errors` must have the shape of `aa_differences` (3,), got (2,)."
    with pytest.raises(ValueError, match=re.escape(message)):
        null_band([0.1, 0.2, 0.3], std_errors=[0.1, 0.1])
    message = "`confidence` must be a number in (0, 1), got 95."
    with pytest.raises(ValueError, match=re.escape(message)):
        null_band([0.1, 0.2], confidence=95)


def test_docstring_examples():
    import doctest

    import expert.stats.power as module

    outcome = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert outcome.attempted > 0 and outcome.failed == 0
