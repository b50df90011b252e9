"""Tests of expert.stats.tests: p-values, TOST, classification, Holm/BH/BY, hierarchical gating (METHODS.md B5-B6).

Oracles: statsmodels (``ttost_paired``, ``ttost_ind``, ``ztost``, ``multipletests``) on
fixed data, skipped where statsmodels is not installed; scipy's one-sample t-test; the
textbook step-down/step-up rules; and planted cases.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats

from expert.stats.tests import (Classification, benjamini_hochberg, benjamini_yekutieli, certified_margin, classify,
                                hierarchical_gate, holm, tost, two_sided_p)

# fixed p-value families: spread, ties, a p of exactly alpha / m, zeros and ones
P_FAMILIES = [
    np.array([0.01, 0.04, 0.03, 0.005]),
    np.array([0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.324, 0.4262, 0.5719,
              0.6528, 0.759, 1.0]),
    np.array([0.02, 0.02, 0.02, 0.02, 0.5]),
    np.array([0.0, 0.01, 0.0125, 0.9, 1.0, 0.049, 0.051, 0.2]),
    np.random.default_rng(20240601).uniform(0, 0.1, 200) ** 2,
]


@pytest.fixture
def paired_data():
    rng = np.random.default_rng(20240601)
    x = rng.normal(0.60, 0.1, 40)
    y = x - 0.003 + rng.normal(0, 0.02, 40)
    return x, y


# ----------------------------------------------------------------------------- two-sided p


def test_two_sided_p_matches_one_sample_t_test(paired_data):
    x, y = paired_data
    d = x - y
    se = d.std(ddof=1) / np.sqrt(d.size)
    expected = stats.ttest_1samp(d, 0.0).pvalue
    assert two_sided_p(d.mean(), se, df=d.size - 1) == pytest.approx(expected, rel=1e-10)


def test_two_sided_p_normal_and_vectorised():
    z = np.array([0.0, 1.0, 1.959963984540054, -3.0])
    np.testing.assert_allclose(two_sided_p(z, 1.0), 2 * stats.norm.sf(np.abs(z)), rtol=1e-12)
    np.testing.assert_allclose(two_sided_p(z, 1.0, df=np.inf), 2 * stats.norm.sf(np.abs(z)), rtol=1e-12)
    # per-value df, inf meaning normal
    p = two_sided_p([2.0, 2.0], [1.0, 1.0], df=[4.0, np.inf])
    np.testing.assert_allclose(p, [2 * stats.t.sf(2, 4), 2 * stats.norm.sf(2)], rtol=1e-12)


def test_two_sided_p_resolves_beyond_bootstrap_tail_counts():
    # a 10-SE effect: p ~ 1.5e-23, far below 1 / (B + 1) for any practical B
    assert two_sided_p(0.1, 0.01) < 1e-20


def test_two_sided_p_zero_standard_error():
    np.testing.assert_array_equal(two_sided_p([0.01, 0.0], [0.0, 0.0]), [0.0, 1.0])


def test_two_sided_p_iv():
    message = "`std_error` must be non-negative"
    with pytest.raises(ValueError, match=re.escape(message)):
        two_sided_p(0.1, -1.0)
    message = "`df` must be positive (or inf)"
    with pytest.raises(ValueError, match=re.escape(message)):
        two_sided_p(0.1, 1.0, df=-2)
    message = "`estimate` (3,) and `std_error` (2,) must broadcast."
    with pytest.raises(ValueError, match=re.escape(message)):
        two_sided_p([0.1, 0.2, 0.3], [1.0, 1.0])


# ----------------------------------------------------------------------------- TOST


def test_tost_matches_statsmodels_ttost_paired(paired_data):
    weightstats = pytest.importorskip("statsmodels.stats.weightstats")
    x, y = paired_data
    d = x - y
    se, df = d.std(ddof=1) / np.sqrt(d.size), d.size - 1
    for margin in (0.002, 0.005, 0.01, 0.05):
        pvalue, (t1, p1, _), (t2, p2, _) = weightstats.ttost_paired(x, y, -margin, margin)
        result = tost(d.mean(), se, margin, df=df)
        assert float(result.pvalue) == pytest.approx(pvalue, rel=1e-10)
        assert float(result.pvalue_lower) == pytest.approx(p1, rel=1e-10)
        assert float(result.pvalue_upper) == pytest.approx(p2, rel=1e-10)
        assert float(result.statistic_lower) == pytest.approx(t1, rel=1e-10)
        assert float(result.statistic_upper) == pytest.approx(-t2, rel=1e-10)
        assert bool(result.equivalent) == (pvalue < 0.05)


def test_tost_matches_statsmodels_ttost_ind_welch():
    weightstats = pytest.importorskip("statsmodels.stats.weightstats")
    rng = np.random.default_rng(20240602)
    a, b = rng.normal(0.5, 0.03, 7), rng.normal(0.51, 0.05, 5)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))  # Welch-Satterthwaite
    pvalue, _, _ = weightstats.ttost_ind(a, b, -0.05, 0.05, usevar="unequal")
    assert float(tost(a.mean() - b.mean(), se, 0.05, df=df).pvalue) == pytest.approx(pvalue, rel=1e-8)


def test_tost_normal_matches_statsmodels_ztost(paired_data):
    weightstats = pytest.importorskip("statsmodels.stats.weightstats")
    x, y = paired_data
    d = x - y
    pvalue, _, _ = weightstats.ztost(d, -0.006, 0.006)
    assert float(tost(d.mean(), d.std(ddof=1) / np.sqrt(d.size), 0.006).pvalue) == pytest.approx(pvalue, rel=1e-10)


def test_tost_equivalent_iff_90_percent_interval_inside_margin():
    rng = np.random.default_rng(20240601)
    estimate = rng.normal(0, 0.01, 2000)
    se = rng.uniform(0.001, 0.01, 2000)
    df = rng.choice([2.0, 4.0, 9.0, np.inf], 2000)
    result = tost(estimate, se, 0.015, df=df)
    critical = np.where(np.isfinite(df), stats.t.ppf(0.95, np.where(np.isfinite(df), df, 1)), stats.norm.ppf(0.95))
    inside = (estimate - critical * se > -0.015) & (estimate + critical * se < 0.015)
    np.testing.assert_array_equal(result.equivalent, inside)
    np.testing.assert_allclose(result.ci_low, estimate - critical * se)
    assert 0 < result.equivalent.mean() < 1  # both outcomes exercised


def test_certified_margin_is_the_tightest_equivalence_margin():
    estimate, se, df = np.array([0.001, -0.004, 0.0]), np.array([0.002, 0.001, 0.003]), np.array([4.0, 9.0, np.inf])
    margin = certified_margin(estimate, se, df=df)
    np.testing.assert_allclose(margin, tost(estimate, se, 1.0, df=df).certified_margin)
    assert tost(estimate, se, margin * 1.0001, df=df).equivalent.all()
    assert not tost(estimate, se, margin * 0.9999, df=df).equivalent.any()


def test_tost_zero_standard_error_is_decided_by_the_estimate():
    result = tost([0.001, 0.02], [0.0, 0.0], 0.01)
    assert result.equivalent.tolist() == [True, False]


def test_tost_iv():
    message = "`margin` must be positive"
    with pytest.raises(ValueError, match=re.escape(message)):
        tost(0.0, 0.01, 0.0)
    message = "`alpha` must be a number in (0, 0.5), got 0.5."
    with pytest.raises(ValueError, match=re.escape(message)):
        tost(0.0, 0.01, 0.01, alpha=0.5)
    message = "`std_error` must be non-negative"
    with pytest.raises(ValueError, match=re.escape(message)):
        tost(0.0, -0.01, 0.01)


# ----------------------------------------------------------------------------- classification


def test_classify_table():
    labels = classify(np.array([True, False, True, False]), np.array([False, True, True, False]))
    assert labels.tolist() == ["material", "negligible", "detectable but trivial", "inconclusive"]
    assert labels[0] == Classification.MATERIAL
    assert {c.value for c in Classification} == set(labels.tolist())


def test_classify_planted_effects_from_estimates():
    # material: big and precise; negligible: tiny and precise; trivial: tiny, very precise,
    # non-zero; inconclusive: small and noisy
    estimate = np.array([0.05, 0.0005, 0.004, 0.01])
    se = np.array([0.005, 0.001, 0.0005, 0.02])
    significant = holm(two_sided_p(estimate, se)).reject
    equivalent = tost(estimate, se, margin=0.006).equivalent
    assert classify(significant, equivalent).tolist() == ["material", "negligible", "detectable but trivial",
                                                          "inconclusive"]


def test_classify_iv():
    message = "`significant` and `equivalent` must be boolean arrays."
    with pytest.raises(ValueError, match=re.escape(message)):
        classify([1, 0], [True, False])


# ----------------------------------------------------------------------------- one family


@pytest.mark.parametrize("pvalues", P_FAMILIES)
@pytest.mark.parametrize("method, ours", [("holm", holm), ("fdr_bh", benjamini_hochberg),
                                          ("fdr_by", benjamini_yekutieli)])
def test_multiple_testing_matches_statsmodels(pvalues, method, ours):
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    for level in (0.05, 0.1):
        reject, adjusted, _, _ = multitest.multipletests(pvalues, alpha=level, method=method)
        result = ours(pvalues, level)
        np.testing.assert_allclose(result.adjusted, adjusted, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(result.reject, reject)
        assert result.n_tests == pvalues.size and result.level == level


@pytest.mark.parametrize("pvalues", P_FAMILIES)
def test_holm_is_the_step_down_rule(pvalues):
    order = np.argsort(pvalues, kind="stable")
    m = pvalues.size
    expected = np.zeros(m, dtype=bool)
    for i, index in enumerate(order):
        if pvalues[index] > 0.05 / (m - i):
            break
        expected[index] = True
    np.testing.assert_array_equal(holm(pvalues).reject, expected)


@pytest.mark.parametrize("pvalues", P_FAMILIES)
def test_bh_is_the_step_up_rule_and_by_is_bh_at_reduced_q(pvalues):
    m = pvalues.size
    ordered = np.sort(pvalues)
    passing = np.flatnonzero(ordered <= np.arange(1, m + 1) * 0.05 / m)
    k = passing.max() + 1 if passing.size else 0
    expected = pvalues <= ordered[k - 1] if k else np.zeros(m, dtype=bool)
    np.testing.assert_array_equal(benjamini_hochberg(pvalues, 0.05).reject, expected)
    harmonic = np.sum(1.0 / np.arange(1, m + 1))
    by = benjamini_yekutieli(pvalues, 0.05).reject
    passing = np.flatnonzero(ordered <= np.arange(1, m + 1) * 0.05 / (m * harmonic))
    k = passing.max() + 1 if passing.size else 0
    np.testing.assert_array_equal(by, pvalues <= ordered[k - 1] if k else np.zeros(m, dtype=bool))


def test_nan_pvalues_are_left_out_of_the_family():
    p = np.array([0.01, np.nan, 0.02])
    result = holm(p)
    assert result.n_tests == 2
    np.testing.assert_allclose(result.adjusted, [0.02, np.nan, 0.02])
    assert result.reject.tolist() == [True, False, True]
    assert holm([]).adjusted.shape == (0,)


def test_multiple_testing_iv():
    message = "`pvalues` must be in [0, 1] (or NaN to leave a hypothesis out)."
    with pytest.raises(ValueError, match=re.escape(message)):
        holm([0.1, 1.2])
    message = "`pvalues` must be one-dimensional, got shape (2, 2)."
    with pytest.raises(ValueError, match=re.escape(message)):
        benjamini_hochberg([[0.1, 0.2], [0.3, 0.4]])
    message = "`q` must be a number in (0, 1), got 0."
    with pytest.raises(ValueError, match=re.escape(message)):
        benjamini_yekutieli([0.1], q=0)


# ----------------------------------------------------------------------------- hierarchy

# sectors S0, S1; publishers P0, P1 in S0 and P2 in S1; works a-f (as in tests/conftest.py)
SECTOR_OF_PUBLISHER = np.array([0, 0, 1])
PUBLISHER_OF_WORK = np.array([0, 0, 1, 1, 2, 2])


def test_hierarchical_gate_tests_children_only_in_rejected_parents():
    sectors = np.array([0.001, 0.4])
    publishers = np.array([0.002, 0.03, 0.0001])
    works = np.array([0.001, 0.5, 0.01, 0.02, 0.001, 0.001])
    result = hierarchical_gate([sectors, publishers, works], [SECTOR_OF_PUBLISHER, PUBLISHER_OF_WORK])
    top, middle, bottom = result.levels
    assert top.reject.tolist() == [True, False] and top.method == "holm"
    assert middle.tested.tolist() == [True, True, False]
    # publishers of S0 form one Holm family of two: 0.002 * 2, max(0.03, 0.004)
    np.testing.assert_allclose(middle.adjusted, [0.004, 0.03, np.nan])
    assert middle.reject.tolist() == [True, True, False]  # P2 has p = 0.0001 but its sector failed
    assert bottom.tested.tolist() == [True, True, True, True, False, False] and bottom.method == "bh"
    np.testing.assert_allclose(bottom.adjusted[:4], [0.002, 0.5, 0.02, 0.02])
    assert bottom.reject.tolist() == [True, False, True, True, False, False]
    assert [r.tolist() for r in result.reject] == [level.reject.tolist() for level in result.levels]


def test_hierarchical_gate_with_every_parent_rejected_is_per_family_testing():
    rng = np.random.default_rng(20240601)
    works = rng.uniform(0, 0.05, 6)
    result = hierarchical_gate([[0.0, 0.0], [0.0, 0.0, 0.0], works], [SECTOR_OF_PUBLISHER, PUBLISHER_OF_WORK],
                               methods=("holm", "holm", "by"), alpha=(0.05, 0.05, 0.1))
    for publisher in range(3):
        members = PUBLISHER_OF_WORK == publisher
        expected = benjamini_yekutieli(works[members], 0.1)
        np.testing.assert_allclose(result.levels[2].adjusted[members], expected.adjusted)
        np.testing.assert_array_equal(result.levels[2].reject[members], expected.reject)


def test_hierarchical_gate_single_level_is_holm():
    p = P_FAMILIES[1]
    result = hierarchical_gate([p])
    np.testing.assert_array_equal(result.levels[0].reject, holm(p).reject)
    assert result.levels[0].parents.tolist() == [-1] * p.size


def test_hierarchical_gate_iv():
    message = "`parents` must have one array per level below the top (1), got 0."
    with pytest.raises(ValueError, match=re.escape(message)):
        hierarchical_gate([[0.1], [0.2]], [])
    message = "`parents[0]` must index level 0 (0 to 1), got values from 0 to 2."
    with pytest.raises(ValueError, match=re.escape(message)):
        hierarchical_gate([[0.1, 0.2], [0.1, 0.2, 0.3]], [[0, 1, 2]])
    message = "`parents[0]` must be integers, one per p-value of level 1 (3)"
    with pytest.raises(ValueError, match=re.escape(message)):
        hierarchical_gate([[0.1, 0.2], [0.1, 0.2, 0.3]], [[0, 1]])
    message = "`methods` must be in ('holm', 'bh', 'by'), got 'bonferroni'."
    with pytest.raises(ValueError, match=re.escape(message)):
        hierarchical_gate([[0.1]], methods=["bonferroni"])
    message = "`alpha` must be a number or one per level (2)"
    with pytest.raises(ValueError, match=re.escape(message)):
        hierarchical_gate([[0.1], [0.2]], [[0]], alpha=[0.05])


def test_docstring_examples():
    import doctest

    import expert.stats.tests as module

    outcome = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert outcome.attempted > 0 and outcome.failed == 0
