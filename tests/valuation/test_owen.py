"""Tests of the Owen (Winter) values of expert.valuation.coalitions through the real pipeline (METHODS.md A5).

Each case is written to disk (works.csv, runs.csv, case.yaml) and analysed. The
run tables are deterministic games (one seed, no item column), so every
configuration's score is its planted utility and values are exact. The oracle is
:func:`expert.valuation.games.owen_by_orders`, which averages marginal
contributions over every order in which unions arrive contiguously; it is given
NaN for every coalition that is not block-structured, so it provably needs only
the coalitions the run table holds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from expert.analysis import MACRO, analyse
from expert.case import load_case
from expert.design import make_design
from expert.evidence import read_runs
from expert.valuation.coalitions import MethodSpec, exact_semivalue, owen_values
from expert.valuation.games import owen_by_orders
from expert.valuation.semivalues import coalition_label
from expert.valuation.weights import Unavailable

# works < publishers < sectors:
#   sector     S1                    S2
#   publisher  P1        P2          P3        P4
#   work       w1  w2    w3  w4      w5  w6    w7  w8
WORKS = [
    {"id": f"w{index + 1}", "publisher": f"P{index // 2 + 1}", "sector": f"S{index // 4 + 1}",
     "tokens": str(tokens), "pages": str(pages)}
    for index, (tokens, pages) in enumerate(zip([100, 300, 200, 200, 500, 100, 50, 150], [1, 1, 2, 6, 3, 1, 1, 1]))
]
GROUPINGS = {"work": {"by": "id"}, "publisher": {"by": "publisher"}, "sector": {"by": "sector"}}
PUBLISHER_UNIONS = [[0, 1], [2, 3]]  # publishers of S1 and S2
STRENGTH = np.array([0.5, 0.3, 0.8, 0.2])


def publisher_game(mask: int) -> float:
    """A monotone, non-additive game on the four publishers with cross-sector interactions."""
    present = [(mask >> p) & 1 for p in range(4)]
    value = 0.2 + 0.6 * (1.0 - math.exp(-float(STRENGTH @ present)))
    return value + 0.04 * present[0] * present[2] - 0.03 * present[1] * present[3]


def block_masks(unions, n_players: int) -> list[int]:
    """Coalitions made of whole unions plus part of at most one union (what the Owen value needs)."""
    masks = []
    for mask in range(1 << n_players):
        partial = sum(0 < sum((mask >> p) & 1 for p in union) < len(union) for union in unions)
        if partial <= 1:
            masks.append(mask)
    return masks


def run_table(make_run_table, game, masks, groups, grouping):
    """Deterministic run table: one seed, no items, one configuration per coalition mask."""
    utilities = {coalition_label(mask, groups, grouping): game(mask) for mask in masks}
    return make_run_table(utilities, n_seeds=1, n_items=None)


def analyse_case(directory, write_case, table, works=WORKS, groupings=GROUPINGS, **analysis):
    directory.mkdir(parents=True, exist_ok=True)
    settings = {"methods": ["shapley", "owen"], "bootstrap": {"resamples": 20, "seed": 7}}
    settings.update(analysis)
    case = load_case(write_case(directory, works=works, groupings=groupings, runs=table, analysis=settings))
    return analyse(case, read_runs(case))


def owen_rows(analysis, grouping):
    return analysis.values("owen", grouping, MACRO).set_index("group")


def oracle_with_gaps(game, masks, n_players):
    """Utilities over all masks, NaN outside ``masks``."""
    utilities = np.full(1 << n_players, np.nan)
    for mask in masks:
        utilities[mask] = game(mask)
    return utilities


# --- exact Owen values --------------------------------------------------------------------------------

@pytest.fixture
def three_levels(tmp_path, write_case, make_run_table):
    """Publisher coalitions: exactly the 12 block-structured ones of 16 (no P1+P3, P1+P4, P2+P3, P2+P4)."""
    masks = block_masks(PUBLISHER_UNIONS, 4)
    assert len(masks) == 12
    table = run_table(make_run_table, publisher_game, masks, ("P1", "P2", "P3", "P4"), "publisher")
    return masks, analyse_case(tmp_path / "exact", write_case, table, owen_split="tokens",
                               methods=["shapley", "banzhaf", "owen", "least_core"])


def test_exact_owen_matches_contiguous_orders(three_levels):
    masks, analysis = three_levels
    expected = owen_by_orders(oracle_with_gaps(publisher_game, masks, 4), PUBLISHER_UNIONS)
    assert np.all(np.isfinite(expected))  # contiguous orders only visit block coalitions
    rows = owen_rows(analysis, "publisher")
    assert set(rows["assumption"]) == {"exact"}
    np.testing.assert_allclose(rows.loc[["P1", "P2", "P3", "P4"], "estimate"], expected, rtol=1e-12, atol=1e-14)
    # the per-benchmark row equals the macro row: one benchmark
    bench = analysis.values("owen", "publisher", "bench").set_index("group")
    np.testing.assert_allclose(bench.loc[["P1", "P2", "P3", "P4"], "estimate"], expected, rtol=1e-12, atol=1e-14)


def test_owen_quotient_game_and_efficiency(three_levels):
    _, analysis = three_levels
    owen = owen_rows(analysis, "publisher")["estimate"]
    sector_shapley = analysis.values("shapley", "sector", MACRO).set_index("group")["estimate"]
    # quotient game v_P(H) = v(Q_H) of the sectors, by hand: Shapley of a 2-player game
    v = {mask: publisher_game(mask) for mask in (0b0000, 0b0011, 0b1100, 0b1111)}
    s1 = 0.5 * (v[0b0011] - v[0b0000]) + 0.5 * (v[0b1111] - v[0b1100])
    s2 = 0.5 * (v[0b1100] - v[0b0000]) + 0.5 * (v[0b1111] - v[0b0011])
    np.testing.assert_allclose(sector_shapley.loc[["S1", "S2"]], [s1, s2], rtol=1e-12)
    assert owen["P1"] + owen["P2"] == pytest.approx(s1, rel=1e-12)
    assert owen["P3"] + owen["P4"] == pytest.approx(s2, rel=1e-12)
    assert owen.sum() == pytest.approx(v[0b1111] - v[0b0000], rel=1e-12)
    # the Owen value of the coarsest grouping is its Shapley value
    sector_owen = owen_rows(analysis, "sector")
    np.testing.assert_allclose(sector_owen.loc[["S1", "S2"], "estimate"], [s1, s2], rtol=1e-12)
    assert set(sector_owen["assumption"]) == {"exact (no coarser grouping: the Shapley value)"}


def test_owen_accounting_is_complete(three_levels):
    _, analysis = three_levels
    accounting = analysis.accounting
    owen = accounting[accounting["method"] == "owen"]
    assert set(owen["grouping"]) == {"work", "publisher", "sector"}
    np.testing.assert_allclose(owen[["share", "share_low", "share_high"]].to_numpy(dtype=float), 1.0, rtol=1e-12)


def test_owen_below_an_exact_level_is_split_by_tokens(three_levels):
    # exact Owen only directly below the coarsest grouping; works inherit their publisher's value by tokens
    _, analysis = three_levels
    works = owen_rows(analysis, "work")
    publishers = owen_rows(analysis, "publisher")["estimate"]
    assert set(works["assumption"]) == {"tokens split within publisher"}
    tokens = {work["id"]: float(work["tokens"]) for work in WORKS}
    publisher_of = {work["id"]: work["publisher"] for work in WORKS}
    publisher_tokens = {p: sum(t for w, t in tokens.items() if publisher_of[w] == p) for p in publishers.index}
    for work, row in works.iterrows():
        share = tokens[work] / publisher_tokens[publisher_of[work]]
        assert row["estimate"] == pytest.approx(publishers[publisher_of[work]] * share, rel=1e-12)


def test_methods_the_evidence_cannot_support_are_listed(three_levels):
    _, analysis = three_levels
    unavailable = {(item.grouping, item.method): item for item in analysis.unavailable}
    mixed = sorted(coalition_label(mask, ("P1", "P2", "P3", "P4"), "publisher")
                   for mask in set(range(16)) - set(block_masks(PUBLISHER_UNIONS, 4)))
    assert mixed == sorted(["publisher:P2;publisher:P4", "publisher:P2;publisher:P3", "publisher:P1;publisher:P4",
                            "publisher:P1;publisher:P3"])
    for method in ("shapley", "banzhaf", "least_core"):
        item = unavailable[("publisher", method)]
        assert isinstance(item, Unavailable)
        assert sorted(item.missing) == mixed and item.n_missing == 4
        assert "the run table has 12" in item.reason
    work = unavailable[("work", "shapley")]
    assert work.n_missing == 256 - 12
    assert "all 256 coalitions of the 8 work groups" in work.reason
    assert ("sector", "shapley") not in unavailable and ("publisher", "owen") not in unavailable
    assert len(analysis.least_core) == 1 and analysis.least_core[0]["grouping"] == "sector"
    # nothing is valued where it is unavailable
    table = analysis.valuations
    assert not ((table["grouping"] == "publisher") & (table["method"] == "shapley")).any()


# --- exact two-level Owen of works in publishers --------------------------------------------------------

TWO_LEVEL_WORKS = [{"id": work, "publisher": publisher, "tokens": "100"}
                   for work, publisher in zip("abcde", ["A", "A", "B", "B", "B"])]
WORK_STRENGTH = np.array([0.4, 0.1, 0.3, 0.25, 0.05])


def work_game(mask: int) -> float:
    present = np.array([(mask >> p) & 1 for p in range(5)], dtype=float)
    value = 0.5 + 0.4 * (1.0 - math.exp(-float(WORK_STRENGTH @ present)))
    return value + 0.02 * present[0] * present[3] - 0.015 * present[1] * present[2] * present[4]


def test_exact_owen_of_works_matches_contiguous_orders(tmp_path, write_case, make_run_table):
    unions = [[0, 1], [2, 3, 4]]
    masks = block_masks(unions, 5)
    table = run_table(make_run_table, work_game, masks, tuple("abcde"), "work")
    analysis = analyse_case(tmp_path, write_case, table, works=TWO_LEVEL_WORKS,
                            groupings={"work": {"by": "id"}, "publisher": {"by": "publisher"}})
    expected = owen_by_orders(oracle_with_gaps(work_game, masks, 5), unions)  # 2! * 2! * 3! = 24 orders
    assert np.all(np.isfinite(expected))
    rows = owen_rows(analysis, "work")
    assert set(rows["assumption"]) == {"exact"}
    np.testing.assert_allclose(rows.loc[list("abcde"), "estimate"], expected, rtol=1e-12, atol=1e-14)
    assert rows["estimate"].sum() == pytest.approx(work_game(31) - work_game(0), rel=1e-12)
    publisher = analysis.values("shapley", "publisher", MACRO).set_index("group")["estimate"]
    assert rows.loc[["a", "b"], "estimate"].sum() == pytest.approx(publisher["A"], rel=1e-12)
    assert rows.loc[["c", "d", "e"], "estimate"].sum() == pytest.approx(publisher["B"], rel=1e-12)
    # Owen != Shapley here: the work-level Shapley value is unavailable (mixed coalitions missing)
    assert any(item.grouping == "work" and item.method == "shapley" for item in analysis.unavailable)


def test_owen_with_singleton_unions_is_shapley(tmp_path, write_case, make_run_table):
    # publishers of one work each: Owen (all 2^k coalitions) = Shapley of the works
    works = [{"id": work, "publisher": work.upper(), "tokens": "1"} for work in "abc"]
    masks = list(range(8))
    game = lambda mask: work_game(mask)  # noqa: E731 - the first three players of the work game
    table = run_table(make_run_table, game, masks, tuple("abc"), "work")
    analysis = analyse_case(tmp_path, write_case, table, works=works,
                            groupings={"work": {"by": "id"}, "publisher": {"by": "publisher"}})
    owen = owen_rows(analysis, "work")["estimate"]
    shapley = analysis.values("shapley", "work", MACRO).set_index("group")["estimate"]
    np.testing.assert_allclose(owen.loc[list("abc")], shapley.loc[list("abc")], rtol=1e-12)
    np.testing.assert_allclose(owen.loc[list("abc")], owen_by_orders(np.array([game(m) for m in masks]),
                                                                     [[0], [1], [2]]), rtol=1e-12)


# --- split fallback -------------------------------------------------------------------------------------

def sector_table(make_run_table, drop=()):
    """Block-structured publisher coalitions without the masks in ``drop`` (within-union coalitions)."""
    masks = [mask for mask in block_masks(PUBLISHER_UNIONS, 4) if mask not in set(drop)]
    return run_table(make_run_table, publisher_game, masks, ("P1", "P2", "P3", "P4"), "publisher")


@pytest.mark.parametrize("split", ["equal", "tokens", "pages"])
def test_owen_split_fallback(split, tmp_path, write_case, make_run_table):
    # without v(P1) alone the within-S1 marginals are unobservable: sector totals are split down
    table = sector_table(make_run_table, drop=(0b0001,))
    analysis = analyse_case(tmp_path, write_case, table, owen_split=split)
    sectors = analysis.values("shapley", "sector", MACRO).set_index("group")["estimate"]
    publishers, works = owen_rows(analysis, "publisher"), owen_rows(analysis, "work")
    assert set(publishers["assumption"]) == {f"{split} split within sector"}
    assert set(works["assumption"]) == {f"{split} split within sector; {split} split within publisher"}

    weight = {work["id"]: (1.0 if split == "equal" else float(work[split])) for work in WORKS}
    by = {level: {work["id"]: work[level] for work in WORKS} for level in ("publisher", "sector")}

    def total(level, group):
        return sum(w for work, w in weight.items() if by[level][work] == group)

    for publisher, row in publishers.iterrows():
        sector = next(work["sector"] for work in WORKS if work["publisher"] == publisher)
        if split == "equal":
            share = 0.5  # two publishers per sector
        else:
            share = total("publisher", publisher) / total("sector", sector)
        assert row["estimate"] == pytest.approx(sectors[sector] * share, rel=1e-12)
    for work, row in works.iterrows():
        share = 1.0 / 2 if split == "equal" else weight[work] / total("publisher", by["publisher"][work])
        assert row["estimate"] == pytest.approx(publishers.loc[by["publisher"][work], "estimate"] * share, rel=1e-12)
    # splitting keeps efficiency at every level
    for rows in (publishers, works):
        assert rows["estimate"].sum() == pytest.approx(sectors.sum(), rel=1e-12)


def test_owen_values_direct_fallback_and_exact(tmp_path, write_case, make_run_table):
    # the estimator itself: a Valuation whose rows carry the assumption, weights over configurations
    for name, drop, expected in (("exact", (), "exact"), ("split", (0b0100,), "equal split within sector")):
        directory = tmp_path / name
        directory.mkdir()
        case = load_case(write_case(directory, works=WORKS, groupings=GROUPINGS,
                                    runs=sector_table(make_run_table, drop=drop)))
        runs = read_runs(case)
        design = make_design(case, runs)
        result = owen_values(case, design, "publisher", "equal", runs.n_configurations)
        assert list(result.rows["assumption"].unique()) == [expected]
        assert result.weights.shape == (4, runs.n_configurations)
        utilities = np.array([publisher_game(int(design.coalitions["publisher"][c.index]))
                              for c in runs.configurations])
        assert result.apply(utilities).sum() == pytest.approx(publisher_game(15) - publisher_game(0), rel=1e-12)


# --- unavailable ----------------------------------------------------------------------------------------

def test_owen_unavailable_without_the_quotient_game(tmp_path, write_case, make_run_table):
    # only the full model and leave-one-out runs: no sector quotient game, so no Owen value anywhere
    utilities = {"": 0.8, "sector:S1": 0.5, "sector:S2": 0.6, "publisher:P1": 0.7, "publisher:P2": 0.75,
                 "publisher:P3": 0.72, "publisher:P4": 0.78}
    table = make_run_table(utilities, n_seeds=1, n_items=None)
    analysis = analyse_case(tmp_path, write_case, table, methods=["shapley", "banzhaf", "beta(16,1)", "owen",
                                                                  "least_core"])
    unavailable = {(item.grouping, item.method): item for item in analysis.unavailable}
    for grouping in ("work", "publisher", "sector"):
        item = unavailable[(grouping, "owen")]
        assert item.reason.startswith("the Owen value needs the Shapley value of the quotient game of the coarsest "
                                      "grouping (sector): ")
        assert item.missing == ("sector:*",) and item.n_missing == 1
    for method in ("shapley", "banzhaf", "beta(16,1)", "least_core"):
        assert unavailable[("sector", method)].missing == ("sector:*",)
    assert not analysis.valuations["method"].isin(["owen", "shapley", "banzhaf", "beta(16,1)"]).any()
    assert analysis.least_core == ()
    assert analysis.accounting.empty  # no configuration without any work: no total value to account for


def test_exact_semivalue_unavailable_lists_missing_configurations(tmp_path, write_case, make_run_table):
    masks = [mask for mask in range(16) if mask not in (0b0101, 0b1010)]
    table = run_table(make_run_table, publisher_game, masks, ("P1", "P2", "P3", "P4"), "publisher")
    case = load_case(write_case(tmp_path, works=WORKS, groupings=GROUPINGS, runs=table))
    runs = read_runs(case)
    result = exact_semivalue(case, make_design(case, runs), "publisher", MethodSpec("banzhaf"), runs.n_configurations)
    assert isinstance(result, Unavailable)
    assert result.method == "banzhaf" and result.n_missing == 2
    assert set(result.missing) == {"publisher:P2;publisher:P4", "publisher:P1;publisher:P3"}
    assert result.reason == ("exact values need all 16 coalitions of the 4 publisher groups; the run table has 14 of "
                             "them")


def test_block_masks_helper():
    # 2 unions of 2: 16 coalitions, 4 of them mix a part of each union
    assert len(block_masks(PUBLISHER_UNIONS, 4)) == 12
    assert len(block_masks([[0, 1], [2, 3, 4]], 5)) == 32 - 2 * 6
    # singleton unions: every coalition is block-structured
    assert block_masks([[0], [1], [2]], 3) == list(range(8))
