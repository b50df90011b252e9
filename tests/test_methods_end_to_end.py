"""End to end: analyse() on a planted, complete 2^3 sector game with noise (METHODS.md A2-A6, B2).

Every coalition of the three sectors is in the run table, with matched seeds, items
and per-run noise on two benchmarks. Values are linear in the configuration
utilities (``W @ u``), so the efficiency of the Shapley and Owen values holds
exactly on every benchmark and in every bootstrap replicate, not just on average.
"""

from __future__ import annotations

import math
import numpy as np
import pytest

from expert.analysis import MACRO, analyse
from expert.case import load_case
from expert.evidence import read_runs
from expert.valuation.games import shapley_by_permutations
from expert.valuation.semivalues import coalition_label

#   sector     S1      S2      S3
#   publisher  P1      P2      P3   P4
#   work       a  b    c  d    e    f
WORKS = [{"id": work, "publisher": publisher, "sector": sector, "tokens": str(tokens)}
         for work, publisher, sector, tokens in zip("abcdef", ["P1", "P1", "P2", "P2", "P3", "P4"],
                                                    ["S1", "S1", "S2", "S2", "S3", "S3"], [10, 30, 20, 20, 5, 15])]
GROUPINGS = {"work": {"by": "id"}, "publisher": {"by": "publisher"}, "sector": {"by": "sector"}}
SECTORS = ("S1", "S2", "S3")
STRENGTH = np.array([0.9, 0.5, 0.3])
METHODS = ["loo", "shapley", "banzhaf", "beta(16,1)", "owen", "least_core"]


def sector_game(mask: int) -> float:
    """A submodular (concave) planted utility of the sectors present in ``mask``."""
    present = np.array([(mask >> s) & 1 for s in range(3)], dtype=float)
    return 0.25 + 0.5 * (1.0 - math.exp(-float(STRENGTH @ present)))


def planted() -> dict:
    utilities = {coalition_label(mask, SECTORS, "sector"): sector_game(mask) for mask in range(8)}
    # plus per-work leave-one-out runs (not sector coalitions): small losses
    utilities.update({f"work:{work}": sector_game(7) - 0.004 * (index + 1) for index, work in enumerate("abcdef")})
    return utilities


@pytest.fixture
def analysis(tmp_path, write_case, make_run_table):
    table = make_run_table(planted(), n_seeds=4, n_items=25, benchmarks=("arc", "piqa"), noise_sd=0.02,
                           rng=np.random.default_rng(20240615))
    case = load_case(write_case(tmp_path, works=WORKS, groupings=GROUPINGS, runs=table,
                                analysis={"methods": METHODS, "bootstrap": {"resamples": 300, "seed": 4242}}))
    return analyse(case, read_runs(case))


def sector_rows(analysis, method, benchmark):
    return analysis.values(method, "sector", benchmark).set_index("group").loc[list(SECTORS)]


def test_shapley_is_efficient_on_every_benchmark(analysis):
    totals = analysis.total_value.set_index("benchmark")["estimate"]
    utilities = analysis.utilities
    assert set(totals.index) == set(analysis.benchmarks)
    for benchmark in analysis.benchmarks:
        shapley = sector_rows(analysis, "shapley", benchmark)["estimate"]
        assert shapley.sum() == pytest.approx(totals[benchmark], rel=1e-12, abs=1e-15)
        rows = utilities[utilities["benchmark"] == benchmark].set_index("group")["estimate"]
        assert shapley.sum() == pytest.approx(rows[""] - rows["sector:*"], rel=1e-12, abs=1e-15)


def test_accounting_is_100_percent_for_shapley_and_owen(analysis):
    accounting = analysis.accounting
    for method in ("shapley", "owen"):
        rows = accounting[(accounting["method"] == method) & (accounting["grouping"] == "sector")]
        assert set(rows["benchmark"]) == set(analysis.benchmarks)
        # exact in every bootstrap replicate: the interval of the share collapses to 1
        np.testing.assert_allclose(rows[["share", "share_low", "share_high"]].to_numpy(dtype=float), 1.0, rtol=1e-12)
        assert rows["complete"].all()
    # Owen at finer levels splits the sector totals, so it accounts for everything too
    owen = accounting[accounting["method"] == "owen"]
    assert set(owen["grouping"]) == {"work", "publisher", "sector"}
    np.testing.assert_allclose(owen["share"].to_numpy(dtype=float), 1.0, rtol=1e-12)
    # Banzhaf and Beta(16,1) are not efficient: on a submodular game they miss or overshoot the total
    for method in ("banzhaf", "beta(16,1)"):
        shares = accounting[(accounting["method"] == method) & (accounting["benchmark"] == MACRO)]["share"]
        assert abs(float(shares.iloc[0]) - 1.0) > 0.01


def test_shares_within_their_intervals(analysis):
    table = analysis.valuations
    rows = table[(table["grouping"] == "sector") & table["method"].isin(["shapley", "banzhaf", "beta(16,1)", "owen"])]
    assert len(rows) == 4 * 3 * len(analysis.benchmarks)
    assert (rows["share_low"] <= rows["share"]).all() and (rows["share"] <= rows["share_high"]).all()
    assert (rows["ci_low"] <= rows["estimate"]).all() and (rows["estimate"] <= rows["ci_high"]).all()
    shapley = rows[(rows["method"] == "shapley")]
    for benchmark in analysis.benchmarks:
        assert shapley[shapley["benchmark"] == benchmark]["share"].sum() == pytest.approx(1.0, rel=1e-12)


def test_values_recover_the_planted_game(analysis):
    utilities = np.array([sector_game(mask) for mask in range(8)])
    expected = shapley_by_permutations(utilities, 3)
    estimate = sector_rows(analysis, "shapley", MACRO)
    # per-run noise 0.02 averaged over 4 seeds x 25 items x 2 benchmarks: SE about 0.002 per configuration
    np.testing.assert_allclose(estimate["estimate"], expected, atol=0.01)
    assert (np.abs(estimate["estimate"] - expected) <= 4 * estimate["std_error"] + 1e-3).all()
    assert list(estimate["estimate"].rank(ascending=False)) == [1.0, 2.0, 3.0]


def test_owen_of_the_top_grouping_is_its_shapley_value(analysis):
    for benchmark in analysis.benchmarks:
        owen = sector_rows(analysis, "owen", benchmark)
        shapley = sector_rows(analysis, "shapley", benchmark)
        np.testing.assert_allclose(owen["estimate"], shapley["estimate"], rtol=1e-12)
        # finer levels: split within each sector (the within-sector coalitions are not in the evidence)
        publishers = analysis.values("owen", "publisher", benchmark).set_index("group")
        assert set(publishers["assumption"]) == {"equal split within sector"}
        assert publishers.loc["P3", "estimate"] == pytest.approx(shapley.loc["S3", "estimate"] / 2, rel=1e-12)
        assert publishers.loc["P1", "estimate"] == pytest.approx(shapley.loc["S1", "estimate"], rel=1e-12)


def test_least_core_interval_contains_the_point(analysis):
    assert len(analysis.least_core) == 1
    core = analysis.least_core[0]
    assert core["grouping"] == "sector" and core["groups"] == list(SECTORS)
    assert core["n_replicates"] == 300
    assert core["subsidy_low"] <= core["subsidy"] <= core["subsidy_high"]
    assert sum(core["allocation"]) == pytest.approx(core["total"], abs=1e-9)
    for low, point, high in zip(core["low"], core["allocation"], core["high"]):
        assert low - 1e-7 <= point <= high + 1e-7
    totals = analysis.total_value.set_index("benchmark")["estimate"]
    assert core["total"] == pytest.approx(totals[MACRO], rel=1e-12)


def test_unavailable_methods_are_reported_not_raised(analysis):
    unavailable = {(item.grouping, item.method) for item in analysis.unavailable}
    # 6 works and 4 publishers: their coalition tables are far from complete
    for grouping in ("work", "publisher"):
        for method in ("shapley", "banzhaf", "beta(16,1)", "least_core"):
            assert (grouping, method) in unavailable
    assert not any(grouping == "sector" for grouping, _ in unavailable)
    assert not any(method == "owen" for _, method in unavailable)


def test_one_group_grouping_with_least_core(tmp_path, write_case, make_run_table):
    works = [{"id": work, "sector": "S", "tokens": "1"} for work in "ab"]
    table = make_run_table({"": 0.8, "work:a": 0.7, "work:b": 0.75, "sector:*": 0.3}, n_seeds=2, n_items=5)
    case = load_case(write_case(tmp_path, works=works, groupings={"work": {"by": "id"}, "sector": {"by": "sector"}},
                                runs=table, analysis={"methods": ["shapley", "least_core"],
                                                      "bootstrap": {"resamples": 20}}))
    analysis = analyse(case, read_runs(case))
    assert analysis.values("shapley", "sector")["estimate"].iloc[0] == pytest.approx(0.5, abs=1e-9)
    assert ("sector", "least_core") in {(u.grouping, u.method) for u in analysis.unavailable}
