"""Tests of expert.analysis.analyse: every valuation at every grouping, from one crossed bootstrap."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from expert.analysis import MACRO, VALUATION_COLUMNS, Unavailable, analyse
from expert.case import load_case
from expert.errors import EvidenceError
from expert.evidence import read_runs

# diminishing returns: removing a whole sector costs far more than removing its works one by one
SUBMODULAR = {
    "": 0.60,
    "work:a": 0.598, "work:b": 0.597, "work:c": 0.599, "work:d": 0.598, "work:e": 0.596, "work:f": 0.597,
    "publisher:P1": 0.58, "publisher:P2": 0.585, "publisher:P3": 0.57,  # P3 is sector S2
    "sector:S1": 0.50,
}


@pytest.fixture
def analysed(tmp_path, write_case, make_run_table):
    """Analyse a case whose run table is planted from ``utilities``."""

    def run(utilities=SUBMODULAR, case_overrides=None, **table_options):
        options = dict(n_seeds=3, n_items=30, benchmarks=("arc", "piqa"), noise_sd=0.01,
                       rng=np.random.default_rng(20240612))
        options.update(table_options)
        case = load_case(write_case(tmp_path, runs=make_run_table(utilities, **options), **(case_overrides or {})))
        runs = read_runs(case)
        return analyse(case, runs)

    return run


def test_analyse_grouping_lemma_and_gap(analysed):
    analysis = analysed()
    for benchmark in analysis.benchmarks:
        loo = analysis.values("loo", benchmark=benchmark).set_index(["grouping", "group"])["estimate"]
        sector = loo[("sector", "S1")]
        works = sum(loo[("work", work)] for work in "abcd")
        publishers = loo[("publisher", "P1")] + loo[("publisher", "P2")]
        assert sector > publishers > works
        for finer, parts in (("work", works), ("publisher", publishers)):
            rows = analysis.valuations[(analysis.valuations["benchmark"] == benchmark)
                                       & (analysis.valuations["grouping"] == "sector")
                                       & (analysis.valuations["group"] == "S1")
                                       & (analysis.valuations["finer"] == finer)].set_index("method")
            assert rows.loc["sum_of_parts", "estimate"] == pytest.approx(parts, rel=1e-12, abs=1e-15)
            assert rows.loc["grouping_gap", "estimate"] == pytest.approx(sector - parts, rel=1e-12, abs=1e-15)
            assert rows.loc["grouping_gap", "estimate"] > 0
            assert rows.loc["grouping_gap", "n_parts"] == (4 if finer == "work" else 2)


def test_analyse_planted_values(analysed):
    # without noise, seed and item effects cancel in every difference
    analysis = analysed(noise_sd=0.0)
    loo = analysis.values("loo").set_index(["grouping", "group"])["estimate"]
    assert loo[("sector", "S1")] == pytest.approx(0.10, abs=1e-12)
    assert loo[("work", "e")] == pytest.approx(0.004, abs=1e-12)
    assert loo[("sector", "S2")] == pytest.approx(0.03, abs=1e-12)  # the configuration of publisher P3


def test_analyse_macro_average_is_the_mean_of_benchmarks(analysed):
    analysis = analysed()
    table = analysis.valuations
    assert analysis.benchmarks == ("arc", "piqa", MACRO)
    keys = ["grouping", "group", "method", "finer"]
    per_benchmark = table[table["benchmark"] != MACRO].groupby(keys, sort=False)["estimate"].mean()
    macro = table[table["benchmark"] == MACRO].set_index(keys)["estimate"]
    assert len(macro) == len(per_benchmark) == len(table) // 3
    np.testing.assert_allclose(macro.loc[per_benchmark.index].to_numpy(), per_benchmark.to_numpy(), rtol=1e-12,
                               atol=1e-15)


def test_analyse_valuations_table(analysed):
    analysis = analysed()
    table = analysis.valuations
    assert list(table.columns) == VALUATION_COLUMNS
    assert set(table["method"]) == {"loo", "sum_of_parts", "grouping_gap"}
    assert (table["ci_low"] <= table["estimate"]).all() and (table["estimate"] <= table["ci_high"]).all()
    assert (table["std_error"] > 0).all()
    assert ((table["significant"]) == ((table["ci_low"] > 0) | (table["ci_high"] < 0))).all()
    loo = analysis.values("loo", grouping="publisher", benchmark="arc")
    assert list(loo["group"]) == ["P1", "P2", "P3"]
    assert list(loo["configuration"]) == ["publisher:P1", "publisher:P2", "publisher:P3"]
    assert list(loo["tokens"]) == [300.0, 700.0, 1100.0]  # summed over the group's works
    assert list(loo["n_works"]) == [2, 2, 2]
    assert analysis.values("loo", grouping="sector").set_index("group").loc["S2", "configuration"] == "publisher:P3"
    assert (table.loc[table["method"] == "loo", "finer"] == "").all()
    # the configuration utilities, with the number of works removed
    utilities = analysis.utilities
    assert len(utilities) == analysis.runs.n_configurations * 3
    assert list(utilities.loc[utilities["benchmark"] == "arc", "n_removed"]) == [
        len(c.removed) for c in analysis.runs.configurations]
    # three seeds: the analytic standard error is also computed
    assert any("analytic t-based standard error" in note for note in analysis.warnings)
    noise = analysis.noise.set_index("benchmark")
    assert list(noise.index) == ["arc", "piqa", MACRO]
    assert (noise["n_seeds"] == 3).all() and noise.loc["arc", "n_items"] == 30
    assert np.isfinite(noise["seed_sd"]).all()


def test_analyse_without_full_model(tmp_path, write_case, make_run_table):
    utilities = {key: value for key, value in SUBMODULAR.items() if key}
    case = load_case(write_case(tmp_path, runs=make_run_table(utilities, n_seeds=2, n_items=5)))
    runs = read_runs(case)
    message = ("runs.csv: removed: expected a full model (runs with an empty `removed` cell), found only "
               "configurations that remove works")
    with pytest.raises(EvidenceError, match=re.escape(message)):
        analyse(case, runs)


def test_analyse_lists_unavailable_groups(analysed):
    utilities = {key: value for key, value in SUBMODULAR.items()
                 if key not in ("work:c", "work:d") and not key.startswith("publisher:")}
    analysis = analysed(utilities)
    loo_unavailable = [(item.grouping, item.reason, item.missing) for item in analysis.unavailable
                       if isinstance(item, Unavailable) and item.method == "loo"]
    assert loo_unavailable == [
        ("work", "2 of 6 groups have no leave-one-out configuration in the run table", ("c", "d")),
        ("publisher", "no leave-one-out configuration of any group is in the run table", ("P1", "P2", "P3")),
        ("sector", "1 of 2 groups have no leave-one-out configuration in the run table", ("S2",)),
    ]
    assert set(analysis.values("loo")["grouping"]) == {"work", "sector"}
    # S1's works c and d have no LOO: no gap for S1 over works
    assert analysis.values("grouping_gap").empty


def test_analyse_deterministic_game(analysed):
    # (with 1999 identical replicates their std is ~1e-17, not 0, from rounding: still exact)
    analysis = analysed(n_seeds=1, n_items=None, noise_sd=0.0,
                        case_overrides={"analysis": {"bootstrap": {"resamples": 1999}}})
    assert analysis.bootstrap.n_resamples == 1999
    table = analysis.valuations
    assert (table["interval"] == "exact").all()
    assert (table["ci_low"] == table["estimate"]).all() and (table["ci_high"] == table["estimate"]).all()
    assert (table["std_error"] == 0).all() and table["mde"].isna().all()
    assert any("no replication noise" in note for note in analysis.warnings)
    assert not any("BCa was degenerate" in note for note in analysis.warnings)
    assert analysis.noise["seed_sd"].isna().all()


def test_analyse_unmatched_seeds(tmp_path, write_case, make_run_table):
    table = make_run_table(SUBMODULAR, n_seeds=4, n_items=10, noise_sd=0.01, rng=np.random.default_rng(20240613))
    table = table[~((table["removed"] == "work:a") & (table["seed"] == 4))]
    case = load_case(write_case(tmp_path, runs=table))
    runs = read_runs(case)
    assert not runs.matched
    analysis = analyse(case, runs)
    assert any("not matched" in note for note in analysis.warnings)
    loo = analysis.values("loo").set_index(["grouping", "group"])
    assert np.isfinite(loo[["estimate", "std_error", "ci_low", "ci_high"]].to_numpy()).all()
    assert analysis.bootstrap.matched is False


def test_analyse_reports_progress(tmp_path, write_case):
    case = load_case(write_case(tmp_path))
    messages = []
    analyse(case, read_runs(case), progress=messages.append)
    assert len(messages) == 2 and messages[0].startswith("crossed bootstrap: 200 replicates")


def test_analyse_is_reproducible(analysed):
    first = analysed()
    second = analysed()
    pd.testing.assert_frame_equal(first.valuations, second.valuations)
