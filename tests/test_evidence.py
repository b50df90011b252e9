"""Tests of expert.evidence.read_runs: the run table, configurations and consistency checks."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pandas as pd
import pytest

from expert.case import load_case
from expert.errors import EvidenceError, InputError
from expert.evidence import read_runs

SMALL = {"": 0.60, "work:a": 0.59, "publisher:P1": 0.55}


@pytest.fixture
def read(tmp_path, write_case):
    """Write a case with the given run table (DataFrame or raw text) and read it."""

    def read_(runs=None, text: str | None = None, runs_name: str = "runs.csv", **overrides):
        path = write_case(tmp_path, runs=runs, runs_name=runs_name, **overrides)
        if text is not None:
            (tmp_path / runs_name).write_text(text, encoding="utf-8")
        return read_runs(load_case(path))

    return read_


def problems_of(read, *args, **kwargs) -> list[str]:
    with pytest.raises(EvidenceError) as excinfo:
        read(*args, **kwargs)
    assert isinstance(excinfo.value, InputError) and excinfo.value.exit_code == 2
    return excinfo.value.problems


def test_read_runs_arranges_scores(read, make_run_table):
    table = make_run_table(SMALL, n_seeds=3, n_items=4, benchmarks=("zeta", "alpha"))
    runs = read(table)
    assert runs.benchmarks == ("alpha", "zeta")  # sorted
    assert runs.seeds == ("1", "2", "3")
    assert [c.label for c in runs.configurations] == ["", "work:a", "publisher:P1"]  # full, then by size
    assert [sorted(c.removed) for c in runs.configurations] == [[], [0], [0, 1]]
    assert runs.configurations[0].is_full and runs.configurations[0].describe() == "full model (nothing removed)"
    assert runs.configurations[2].describe() == "without publisher:P1"
    assert runs.configurations[1].runs == ("c1-s1", "c1-s2", "c1-s3")
    assert runs.configurations[1].seeds == ("1", "2", "3")
    assert runs.full == 0 and runs.find(frozenset({0, 1})) == 2 and runs.find(frozenset({5})) is None
    assert runs.items == (tuple(f"alpha-{j:03d}" for j in range(4)), tuple(f"zeta-{j:03d}" for j in range(4)))
    assert runs.matched and runs.has_items and runs.seed_mask.all()
    assert runs.n_rows == len(table) and runs.n_configurations == 3
    assert [array.shape for array in runs.scores] == [(3, 3, 4), (3, 3, 4)]
    # every score lands in its cell
    for row in table.itertuples():
        k = runs.benchmarks.index(row.benchmark)
        c = [config.label for config in runs.configurations].index(row.removed)
        s = runs.seeds.index(str(row.seed))
        j = runs.items[k].index(row.item)
        assert runs.scores[k][c, s, j] == pytest.approx(row.score, rel=1e-15)
    np.testing.assert_allclose(runs.scores[0].mean(axis=(1, 2)), [0.60, 0.59, 0.55], rtol=1e-12)


def test_read_runs_csv_and_parquet_agree(tmp_path, write_case, make_run_table):
    table = make_run_table(SMALL, n_seeds=2, n_items=5, benchmarks=("b1", "b2"))
    (tmp_path / "csv").mkdir()
    (tmp_path / "pq").mkdir()
    csv_runs = read_runs(load_case(write_case(tmp_path / "csv", runs=table)))
    pq_runs = read_runs(load_case(write_case(tmp_path / "pq", runs=table, runs_name="runs.parquet")))
    for name in ("configurations", "seeds", "benchmarks", "items", "matched", "has_items", "n_rows", "unused_columns"):
        assert getattr(csv_runs, name) == getattr(pq_runs, name), name
    np.testing.assert_array_equal(csv_runs.seed_mask, pq_runs.seed_mask)
    for csv_scores, pq_scores in zip(csv_runs.scores, pq_runs.scores):
        np.testing.assert_allclose(csv_scores, pq_scores, rtol=1e-15, atol=0)


def test_read_runs_gzip_csv(tmp_path, write_case, make_run_table):
    table = make_run_table(SMALL, n_seeds=2, n_items=3)
    path = write_case(tmp_path, runs=table)
    (tmp_path / "runs.csv.gz").write_bytes(gzip.compress((tmp_path / "runs.csv").read_bytes()))
    case = load_case(path)
    plain, zipped = read_runs(case), read_runs(case, tmp_path / "runs.csv.gz")
    assert plain.configurations == zipped.configurations
    np.testing.assert_array_equal(plain.scores[0], zipped.scores[0])
    assert zipped.source == tmp_path / "runs.csv.gz"


def test_read_runs_same_order_whatever_the_row_order(read, make_run_table, tmp_path, write_case):
    table = make_run_table(SMALL, n_seeds=3, n_items=6, benchmarks=("b1", "b2"))
    shuffled = table.sample(frac=1.0, random_state=np.random.default_rng(7)).reset_index(drop=True)
    first = read(table)
    (tmp_path / "other").mkdir()
    second = read_runs(load_case(write_case(tmp_path / "other", runs=shuffled)))
    assert [c.removed for c in first.configurations] == [c.removed for c in second.configurations]
    assert first.items == second.items and first.seeds == second.seeds
    for a, b in zip(first.scores, second.scores):
        np.testing.assert_array_equal(a, b)


def test_read_runs_seeds_sort_numerically(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=11, n_items=2)
    assert read(table).seeds == tuple(str(s) for s in range(1, 12))


def test_read_runs_spellings_resolve_to_one_configuration(read, make_run_table):
    table = make_run_table({"": 0.6, "publisher:P1": 0.5}, n_seeds=3, n_items=3)
    spellings = {1: "publisher:P1", 2: "work:a;work:b", 3: " work:b ; work:a "}
    removed = table["removed"] != ""
    table.loc[removed, "removed"] = table.loc[removed, "seed"].map(spellings)
    runs = read(table)
    assert runs.n_configurations == 2
    configuration = runs.configurations[1]
    assert configuration.removed == frozenset({0, 1})
    assert configuration.label == "publisher:P1"  # the first spelling in the table
    assert configuration.seeds == ("1", "2", "3")
    assert runs.matched


def test_read_runs_grouping_star(read, make_run_table):
    runs = read(make_run_table({"": 0.6, "work:*": 0.3}, n_seeds=1, n_items=2))
    assert runs.configurations[1].removed == frozenset(range(6))
    runs = read(make_run_table({"": 0.6, "sector:*": 0.3}, n_seeds=1, n_items=2))
    assert runs.configurations[1].removed == frozenset(range(6))


def test_read_runs_iv_same_configuration_twice(read, make_run_table):
    # sector S2 is publisher P3, so these two runs are two runs of one configuration and seed
    table = make_run_table({"": 0.6, "publisher:P3": 0.5, "sector:S2": 0.5}, n_seeds=1, n_items=2)
    message = ("runs.csv:6: run: expected one run per configuration and seed, found runs 'c1-s1' and 'c2-s1' both "
               "trained without 'publisher:P3' with seed '1'")
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(table)


def test_read_runs_iv_unknown_grouping(read, make_run_table):
    table = make_run_table({"": 0.6, "publsher:P1": 0.5}, n_seeds=2, n_items=2)
    message = ("runs.csv:6: removed: expected a grouping of the case (work, publisher, sector), found 'publsher' in "
               "'publsher:P1'; did you mean 'publisher'? (and 3 more rows)")
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(table)


def test_read_runs_iv_unknown_group(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a;publisher:P": 0.5, "publisher:P9": 0.4}, n_seeds=1, n_items=1)
    problems = problems_of(read, table)
    assert problems == [
        "runs.csv:3: removed: expected a group of grouping 'publisher', found 'P' in 'publisher:P'; did you mean 'P3'?",
        "runs.csv:4: removed: expected a group of grouping 'publisher', found 'P9' in 'publisher:P9'",
    ]


def test_read_runs_iv_key_without_colon(read, make_run_table):
    table = make_run_table({"": 0.6, "P1": 0.5}, n_seeds=1, n_items=1)
    message = "runs.csv:3: removed: expected keys 'grouping:group' separated by ';', found 'P1'"
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(table)


def test_read_runs_iv_scores(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=1, n_items=3)
    table["score"] = table["score"].astype(object)
    table.loc[1, "score"] = "abc"
    table.loc[2, "score"] = np.nan
    table.loc[3, "score"] = np.inf
    table.loc[4, "score"] = "-inf"
    problems = problems_of(read, table)
    assert problems == [
        "runs.csv:3: score: expected a finite number, found 'abc'",
        "runs.csv:4: score: expected a finite number, found an empty cell",
        "runs.csv:5: score: expected a finite number, found 'inf'",
        "runs.csv:6: score: expected a finite number, found '-inf'",
    ]


def test_read_runs_iv_many_bad_rows_are_summarised(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=1, n_items=15)
    table["score"] = "x"
    problems = problems_of(read, table)
    assert len(problems) == 21
    assert problems[-1] == "runs.csv: score: ... and 10 more rows with the same problem"


def test_read_runs_iv_empty_ids(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=1, n_items=2)
    table.loc[0, "run"] = ""
    table.loc[1, "benchmark"] = " "
    table.loc[2, "item"] = ""
    problems = problems_of(read, table)
    assert problems == ["runs.csv:2: run: expected a run id, found an empty cell",
                        "runs.csv:3: benchmark: expected a benchmark name, found an empty cell",
                        "runs.csv:4: item: expected an item id, found an empty cell"]


def test_read_runs_iv_duplicate_rows(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=2, n_items=3)
    table = pd.concat([table, table.iloc[[4]]], ignore_index=True)
    message = ("runs.csv:14: (run, benchmark, item): expected one row per (run, benchmark, item), found a duplicate "
               "of row 6 (run 'c0-s2')")
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(table)


def test_read_runs_iv_duplicate_rows_without_items(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=2, n_items=None)
    table = pd.concat([table, table.iloc[[0]]], ignore_index=True)
    message = "runs.csv:6: (run, benchmark): expected one row per (run, benchmark), found a duplicate of row 2"
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(table)


def test_read_runs_iv_run_with_two_seeds(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=1, n_items=4)
    table.loc[6, "seed"] = 2
    message = "runs.csv:8: seed: expected one seed value per run (run 'c1-s1' has '1' at row 6), found '2'"
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(table)


def test_read_runs_iv_run_with_two_configurations(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5, "publisher:P1": 0.4}, n_seeds=1, n_items=3)
    table.loc[table["run"] == "c2-s1", "run"] = "c1-s1"
    problems = problems_of(read, table)
    assert problems == ["runs.csv:8: removed: expected one removed value per run (run 'c1-s1' has 'work:a' at row 5), "
                        "found 'publisher:P1'"]


def test_read_runs_run_with_two_spellings_of_one_configuration(read, make_run_table):
    table = make_run_table({"": 0.6, "publisher:P1": 0.5}, n_seeds=1, n_items=4)
    table.loc[[5, 6], "removed"] = "work:a;work:b"
    runs = read(table)
    assert runs.n_configurations == 2 and runs.configurations[1].removed == frozenset({0, 1})


def test_read_runs_iv_configuration_missing_a_benchmark(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=2, n_items=2, benchmarks=("b1", "b2"))
    table = table[~((table["run"] == "c1-s2") & (table["benchmark"] == "b2"))]
    message = ("runs.csv:8: benchmark: expected every run scored on benchmark 'b2', found run 'c1-s2' "
               "(configuration 'work:a') without it")
    with pytest.raises(EvidenceError, match=re.escape(message)) as excinfo:
        read(table)
    assert len(excinfo.value.problems) == 1


def test_read_runs_iv_broken_item_pairing(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=2, n_items=10)
    table = table[~((table["run"] == "c1-s2") & table["item"].isin(["bench-007", "bench-003"]))]
    message = ("runs.csv:32: item: expected the same items of benchmark 'bench' in every configuration (pairing), "
               "found run 'c1-s2' (configuration 'work:a') without item 'bench-003' and 1 other items of 10")
    with pytest.raises(EvidenceError, match=re.escape(message)) as excinfo:
        read(table)
    assert excinfo.value.problems == [message]


@pytest.mark.parametrize("delimiter, shown", [(";", "';'"), ("\t", "tab")])
def test_read_runs_iv_wrong_delimiter(read, delimiter, shown):
    header = delimiter.join(["run", "seed", "removed", "benchmark", "score"])
    text = header + "\n" + delimiter.join(["r1", "1", "", "b", "0.5"]) + "\n"
    message = f"runs.csv:1: (header): expected comma-separated columns, found {shown}-separated columns {header!r}"
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(text=text)


def test_read_runs_iv_empty_file(read):
    message = "runs.csv:1: (file): expected a header row with columns run, seed, removed, benchmark, score, found an empty file"
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(text="")
    message = "runs.csv:2: (rows): expected at least one run row, found none"
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(text="run,seed,removed,benchmark,score\n")


def test_read_runs_iv_missing_columns(read):
    message = ("runs.csv:1: (header): expected columns run, seed, removed, benchmark, score (and optionally item), "
               "found run, seed, removd, benchmark; missing removed, score; did you mean 'removd' for 'removed'?")
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(text="run,seed,removd,benchmark\nr1,1,,b\n")


def test_read_runs_iv_ragged_csv(read):
    message = "runs.csv:3: (file): expected a comma-separated table with the same number of fields on every row"
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read(text="run,seed,removed,benchmark,score\nr1,1,,b,0.5\nr2,1,work:a,b,0.4,extra\n")


def test_read_runs_iv_not_utf8(tmp_path, write_case):
    path = write_case(tmp_path)
    (tmp_path / "runs.csv").write_bytes(b"run,seed,removed,benchmark,score\nr\xe9,1,,b,0.5\n")
    message = "runs.csv:2: (file): expected UTF-8 text, found byte 0xe9"
    with pytest.raises(EvidenceError, match=re.escape(message)):
        read_runs(load_case(path))


def test_read_runs_matched_and_unmatched_seeds(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=3, n_items=2)
    assert read(table).matched
    unmatched = table[~((table["removed"] == "work:a") & (table["seed"] == 3))]
    runs = read(unmatched)
    assert not runs.matched
    np.testing.assert_array_equal(runs.seed_mask, [[True, True, True], [True, True, False]])
    np.testing.assert_array_equal(runs.seeds_per_configuration, [3, 2])
    assert runs.configurations[1].seeds == ("1", "2")
    assert np.isnan(runs.scores[0][1, 2]).all() and np.isfinite(runs.scores[0][0]).all()


def test_read_runs_without_item_column(read, make_run_table):
    table = make_run_table({"": 0.6, "work:a": 0.5}, n_seeds=2, n_items=None, benchmarks=("b1", "b2"))
    runs = read(table)
    assert not runs.has_items
    assert runs.items == (("(whole benchmark)",), ("(whole benchmark)",))
    assert runs.scores[0].shape == (2, 2, 1)
    np.testing.assert_allclose(runs.scores[0].mean(axis=(1, 2)), [0.6, 0.5], rtol=1e-12)


def test_read_runs_without_full_model(read, make_run_table):
    # configurations of equal size (regression: their keys once became a 2-D object array)
    runs = read(make_run_table({"work:b": 0.6, "work:a": 0.5}, n_seeds=2, n_items=2))
    assert runs.full is None
    assert [c.removed for c in runs.configurations] == [frozenset({0}), frozenset({1})]
    runs = read(make_run_table({"": 0.6}, n_seeds=2, n_items=2))
    assert runs.full == 0 and runs.n_configurations == 1


def test_read_runs_unused_columns(read, make_run_table):
    table = make_run_table(SMALL, n_seeds=1, n_items=2)
    table["note"] = "x"
    assert read(table).unused_columns == ("note",)


def test_read_runs_path_argument_overrides_case(tmp_path, write_case, make_run_table):
    path = write_case(tmp_path)
    other = tmp_path / "other.csv"
    make_run_table({"": 0.6, "work:c": 0.5}, n_seeds=1, n_items=2).to_csv(other, index=False)
    runs = read_runs(load_case(path), other)
    assert runs.source == other and runs.configurations[1].removed == frozenset({2})
