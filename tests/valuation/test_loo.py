"""Tests of expert.valuation.loo: group leave-one-out and the grouping gap as weight rows (METHODS.md A1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from expert.case import load_case
from expert.design import make_design
from expert.evidence import read_runs
from expert.valuation import Valuation, grouping_gap, leave_one_out, stack
from expert.valuation.weights import rows_from_triplets

# a deterministic game: one seed, no items, so each configuration's utility is its planted score
UTILITIES = {
    "": 0.80,
    "work:a": 0.79, "work:b": 0.78, "work:c": 0.795, "work:d": 0.785, "work:e": 0.77, "work:f": 0.775,
    "publisher:P1": 0.70, "publisher:P2": 0.72,  # P3 = S2
    "sector:S1": 0.40, "sector:S2": 0.60,
}


@pytest.fixture
def game(tmp_path, write_case, make_run_table):
    """(case, runs, design, utilities by label) for a table of planted utilities."""

    def make(utilities=UTILITIES, **overrides):
        table = make_run_table(utilities, n_seeds=1, n_items=None)
        case = load_case(write_case(tmp_path, runs=table, **overrides))
        runs = read_runs(case)
        u = np.array([utilities[configuration.label] for configuration in runs.configurations])
        return case, runs, make_design(case, runs), u

    return make


def values_by_key(valuation: Valuation, u: np.ndarray) -> dict:
    values = valuation.apply(u)
    rows = valuation.rows
    keys = zip(rows["grouping"], rows["group"], rows["method"], rows["finer"] if "finer" in rows else [None] * len(rows))
    return {key if key[3] is not None else key[:3]: value for key, value in zip(keys, values)}


def test_leave_one_out_rows(game):
    case, runs, design, u = game()
    loo = leave_one_out(case, design, runs.n_configurations)
    assert list(loo.rows.columns) == ["grouping", "group", "method", "n_works", "configuration"]
    assert loo.weights.shape == (len(loo.rows), runs.n_configurations)
    assert list(zip(loo.rows["grouping"], loo.rows["group"])) == [
        ("work", "a"), ("work", "b"), ("work", "c"), ("work", "d"), ("work", "e"), ("work", "f"),
        ("publisher", "P1"), ("publisher", "P2"), ("publisher", "P3"), ("sector", "S1"), ("sector", "S2")]
    assert (loo.rows["method"] == "loo").all()
    assert list(loo.rows["n_works"]) == [1] * 6 + [2, 2, 2, 4, 2]
    # publisher P3 and sector S2 are one configuration
    p3, s2 = loo.rows["configuration"].iloc[8], loo.rows["configuration"].iloc[10]
    assert p3 == s2 and runs.configurations[p3].label == "sector:S2"
    dense = loo.weights.toarray()
    for row, configuration in zip(dense, loo.rows["configuration"]):
        expected = np.zeros(runs.n_configurations)
        expected[runs.full] = 1.0
        expected[configuration] = -1.0
        np.testing.assert_array_equal(row, expected)


def test_leave_one_out_values_hand_computed(game):
    case, runs, design, u = game()
    values = values_by_key(leave_one_out(case, design, runs.n_configurations), u)
    # LOO(G) = v(N) - v(N \ G)
    expected = {("work", "a", "loo"): 0.01, ("work", "b", "loo"): 0.02, ("work", "c", "loo"): 0.005,
                ("work", "d", "loo"): 0.015, ("work", "e", "loo"): 0.03, ("work", "f", "loo"): 0.025,
                ("publisher", "P1", "loo"): 0.10, ("publisher", "P2", "loo"): 0.08, ("publisher", "P3", "loo"): 0.20,
                ("sector", "S1", "loo"): 0.40, ("sector", "S2", "loo"): 0.20}
    assert values.keys() == expected.keys()
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, abs=1e-15), key


def test_leave_one_out_skips_missing_groups(game):
    utilities = {key: value for key, value in UTILITIES.items() if key not in ("work:c", "publisher:P1")}
    case, runs, design, u = game(utilities)
    loo = leave_one_out(case, design, runs.n_configurations)
    groups = list(zip(loo.rows["grouping"], loo.rows["group"]))
    assert ("work", "c") not in groups and ("publisher", "P1") not in groups
    assert len(groups) == 9


def test_leave_one_out_without_full_model(game):
    utilities = {key: value for key, value in UTILITIES.items() if key}
    case, runs, design, u = game(utilities)
    assert design.full is None
    for valuation in (leave_one_out(case, design, runs.n_configurations),
                      grouping_gap(case, design, runs.n_configurations)):
        assert len(valuation) == 0 and valuation.weights.shape == (0, runs.n_configurations)


def test_grouping_gap_rows_equal_loo_minus_sum_of_parts(game, rng):
    case, runs, design, _ = game()
    n = runs.n_configurations
    loo = leave_one_out(case, design, n)
    gaps = grouping_gap(case, design, n)
    assert list(gaps.rows.columns) == ["grouping", "group", "method", "finer", "n_parts", "n_works"]
    # any utilities, not only the planted ones: the identity is exact for every u
    for u in [np.array([UTILITIES[c.label] for c in runs.configurations]), rng.normal(size=n)]:
        loo_values = {key[:2]: value for key, value in values_by_key(loo, u).items()}
        gap_values = values_by_key(gaps, u)
        expected_keys = set()
        for finer, coarser, parts in [("work", "publisher", {"P1": "ab", "P2": "cd", "P3": "ef"}),
                                      ("work", "sector", {"S1": "abcd", "S2": "ef"}),
                                      ("publisher", "sector", {"S1": ["P1", "P2"]})]:  # S2 = P3: one part, no gap
            for group, members in parts.items():
                total = sum(loo_values[(finer, member)] for member in members)
                assert gap_values[(coarser, group, "sum_of_parts", finer)] == pytest.approx(total, abs=1e-14)
                assert gap_values[(coarser, group, "grouping_gap", finer)] == pytest.approx(
                    loo_values[(coarser, group)] - total, abs=1e-14)
                expected_keys |= {(coarser, group, "sum_of_parts", finer), (coarser, group, "grouping_gap", finer)}
        assert set(gap_values) == expected_keys
    rows = gaps.rows.set_index(["grouping", "group", "finer", "method"])
    assert rows.loc[("sector", "S1", "work", "grouping_gap"), "n_parts"] == 4
    assert rows.loc[("sector", "S1", "publisher", "grouping_gap"), "n_parts"] == 2
    assert rows.loc[("sector", "S1", "publisher", "grouping_gap"), "n_works"] == 4


def test_grouping_gap_hand_computed(game):
    case, runs, design, u = game()
    gap = values_by_key(grouping_gap(case, design, runs.n_configurations), u)
    # LOO(S1) = 0.40; works a-d: 0.01 + 0.02 + 0.005 + 0.015 = 0.05; publishers P1, P2: 0.10 + 0.08 = 0.18
    assert gap[("sector", "S1", "grouping_gap", "work")] == pytest.approx(0.35, abs=1e-15)
    assert gap[("sector", "S1", "grouping_gap", "publisher")] == pytest.approx(0.22, abs=1e-15)
    assert gap[("publisher", "P3", "grouping_gap", "work")] == pytest.approx(0.20 - 0.055, abs=1e-15)


def test_grouping_gap_only_where_every_part_has_loo(game):
    utilities = {key: value for key, value in UTILITIES.items() if key != "work:b"}
    case, runs, design, u = game(utilities)
    gaps = grouping_gap(case, design, runs.n_configurations)
    keys = set(zip(gaps.rows["grouping"], gaps.rows["group"], gaps.rows["finer"]))
    # work b is in P1 and S1: those gaps over works are gone, the others stay
    assert keys == {("publisher", "P2", "work"), ("publisher", "P3", "work"), ("sector", "S2", "work"),
                    ("sector", "S1", "publisher")}


def test_grouping_gap_skips_coarse_groups_without_loo(game):
    utilities = {key: value for key, value in UTILITIES.items() if key != "sector:S1"}
    case, runs, design, u = game(utilities)
    gaps = grouping_gap(case, design, runs.n_configurations)
    assert "S1" not in set(gaps.rows["group"])


def test_grouping_gap_needs_parts_inside_the_group(game):
    groupings = {"work": {"by": "id"}, "publisher": {"by": "publisher"},
                 "cross": {"groups": {"x": ["a", "b", "c"], "y": "rest"}}}
    utilities = dict(UTILITIES)
    del utilities["sector:S1"], utilities["sector:S2"]
    utilities.update({"cross:x": 0.5, "cross:y": 0.45})
    case, runs, design, u = game(utilities, groupings=groupings)
    assert case.nesting[-1] == ("publisher", "cross", False)
    gaps = grouping_gap(case, design, runs.n_configurations)
    keys = set(zip(gaps.rows["grouping"], gaps.rows["group"], gaps.rows["finer"]))
    # over works both cross groups have a gap; over publishers P2 = {c, d} straddles x and y
    assert ("cross", "x", "work") in keys and ("cross", "y", "work") in keys
    assert not any(finer == "publisher" and grouping == "cross" for grouping, _, finer in keys)


def test_stack_and_triplets():
    weights = rows_from_triplets([[(0, 1.0), (2, -1.0), (0, 1.0)], [(1, 1.0), (1, -1.0)], []], 3)
    np.testing.assert_array_equal(weights.toarray(), [[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert weights.nnz == 2  # merged, zeros dropped
    one = Valuation(pd.DataFrame({"grouping": ["g"], "group": ["x"], "method": ["loo"]}), rows_from_triplets([[(0, 1.0)]], 3))
    empty = Valuation(pd.DataFrame(columns=["grouping", "group", "method"]), rows_from_triplets([], 3))
    both = stack([one, empty, one], 3)
    assert len(both) == 2 and both.weights.shape == (2, 3)
    np.testing.assert_array_equal(both.apply(np.array([0.5, 0.1, 0.2])), [0.5, 0.5])
    assert len(stack([empty], 3)) == 0 and stack([], 3).weights.shape == (0, 3)
    with pytest.raises(ValueError, match="weights has 1 rows but rows has 2"):
        Valuation(pd.DataFrame({"grouping": ["g", "h"]}), sp.csr_array(np.ones((1, 3))))
    # apply works on replicate matrices too (configurations x replicates)
    replicates = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(one.apply(replicates), replicates[:1])
