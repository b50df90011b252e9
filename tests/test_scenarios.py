"""Counsel's scenarios: allocations add up where they must, are flagged where they do not, and map to claimants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from expert.analysis import analyse
from expert.case import load_case
from expert.cli import cli
from expert.errors import CaseError
from expert.evidence import read_runs
from expert.scenarios import UNCLAIMED, allocate, comparison, sensitivity

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, claimants: dict, scenarios: dict, works=None) -> Path:
    """A complete 2^3 sector game (one seed, items) with claimants and scenarios."""
    import itertools

    import pandas as pd

    works = works or [("a", "S1", "P1", "Ann", 100), ("b", "S1", "P1", "Bob", 300), ("c", "S2", "P2", "Cy", 200),
                      ("d", "S3", "P3", "", 400)]
    pd.DataFrame(works, columns=["id", "sector", "publisher", "author", "tokens"]).to_csv(tmp_path / "works.csv",
                                                                                          index=False)
    sectors = ["S1", "S2", "S3"]
    rng = np.random.default_rng(20261204)
    rows = []
    for size in range(4):
        for removed in itertools.combinations(sectors, size):
            present = [s for s in sectors if s not in removed]
            utility = 0.4 + 0.1 * np.sqrt(len(present)) + 0.02 * ("S3" in present)
            spelling = ";".join(f"sector:{s}" for s in removed)
            for seed in range(3):
                for item in range(30):
                    rows.append((f"{spelling}|{seed}", seed, spelling, "b", f"i{item}", utility + rng.normal(0, 0.01)))
    pd.DataFrame(rows, columns=["run", "seed", "removed", "benchmark", "item", "score"]).to_csv(tmp_path / "runs.csv",
                                                                                               index=False)
    case = {"matter": {"title": "T", "date": "2026-01-01"}, "works": "works.csv",
            "groupings": {"work": {"by": "id"}, "sector": {"by": "sector"}}, "evidence": {"runs": "runs.csv"},
            "analysis": {"methods": ["loo", "shapley", "banzhaf"], "bootstrap": {"resamples": 199}},
            "claimants": claimants, "scenarios": scenarios}
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(case, sort_keys=False))
    return tmp_path / "case.yaml"


RIGHTS = {"rights": {"author": {"by": "author", "share": 0.5}, "publisher": {"by": "publisher", "share": 0.5}}}


def _analysis(path):
    case = load_case(path)
    return analyse(case, read_runs(case))


def test_efficient_pool_adds_up_and_claimants_get_their_shares(tmp_path):
    path = _write(tmp_path, RIGHTS, {"pool": {"grouping": "sector", "method": "shapley",
                                              "pool": {"amount": 1000.0}, "split": "tokens"}})
    result = allocate(_analysis(path), "pool")
    assert result.total["amount"] == pytest.approx(1000.0)
    assert result.total["amount_low"] == pytest.approx(1000.0) and result.total["amount_high"] == pytest.approx(1000.0)
    claimants = result.claimants.set_index(["class", "claimant"])
    publishers = claimants.loc["publisher"]["amount"].sum()
    # work d has no author: its author half is unclaimed; publishers hold exactly half of everything
    assert publishers == pytest.approx(500.0)
    assert claimants.loc[(UNCLAIMED, UNCLAIMED), "amount"] > 0
    s1 = result.groups.set_index("group").loc["S1", "amount"]
    assert claimants.loc[("author", "Bob"), "amount"] == pytest.approx(s1 * 0.75 * 0.5)  # Bob has 300 of S1's 400 tokens
    for _, row in result.claimants.iterrows():
        assert row["amount_low"] - 1e-9 <= row["amount"] <= row["amount_high"] + 1e-9
    assert any("efficient" in flag for flag in result.flags)


def test_non_efficient_methods_are_normalised_and_flagged(tmp_path):
    path = _write(tmp_path, RIGHTS, {"loo": {"grouping": "sector", "method": "loo", "pool": {"amount": 1000.0}}})
    result = allocate(_analysis(path), "loo")
    assert result.total["amount"] == pytest.approx(1000.0)
    assert any("not efficient" in flag and "normalised" in flag for flag in result.flags)


def test_rate_is_not_normalised(tmp_path):
    path = _write(tmp_path, RIGHTS, {"rate": {"grouping": "sector", "method": "loo", "pool": {"rate": 10.0}}})
    analysis = _analysis(path)
    result = allocate(analysis, "rate")
    loo = analysis.values("loo", "sector").set_index("group")["estimate"]
    assert result.total["amount"] == pytest.approx(10.0 * 100 * loo.clip(lower=0).sum())


def test_collectives_overlap_and_claimant_without_works(tmp_path):
    claimants = {"rights": {"author": {"members": {"Ann": ["a"], "Bob": ["b", "c", "d"], "Nobody": []}, "share": 1.0}},
                 "collectives": {"guild": {"author": ["Ann", "Bob"]}, "small": {"author": ["Ann"]}}}
    path = _write(tmp_path, claimants, {"pool": {"grouping": "sector", "method": "shapley", "pool": {"amount": 90.0}}})
    result = allocate(_analysis(path), "pool")
    table = result.claimants.set_index("claimant")["amount"]
    assert table["Nobody"] == 0
    assert table["guild (authors)"] == pytest.approx(90.0)
    assert table["small (authors)"] == pytest.approx(table["Ann"])
    assert table[["Ann", "Bob", "Nobody"]].sum() == pytest.approx(90.0)  # collectives are not added to totals


def test_shares_that_do_not_sum_to_one_name_the_work(tmp_path):
    rights = {"rights": {"author": {"by": "author", "share": 0.6}, "publisher": {"by": "publisher", "share": 0.5}}}
    path = _write(tmp_path, rights, {"pool": {"grouping": "sector", "method": "shapley", "pool": {"amount": 1.0}}})
    with pytest.raises(CaseError) as error:
        load_case(path)
    assert "works.csv:2: id: expected the shares of work 'a' to sum to 1 over author, publisher, found 1.1" in str(error.value)


def test_scenario_errors_are_reported(tmp_path):
    path = _write(tmp_path, RIGHTS, {"bad": {"grouping": "sectr", "method": "shapely", "pool": {"amount": 1.0, "rate": 2.0}}})
    with pytest.raises(CaseError) as error:
        load_case(path)
    text = str(error.value)
    assert "scenarios.bad.grouping: expected a grouping" in text
    assert "scenarios.bad.method: expected" in text
    assert "scenarios.bad.pool: expected exactly one of `amount`" in text


def test_unavailable_scenario_and_comparison(tmp_path):
    path = _write(tmp_path, RIGHTS, {"works": {"grouping": "work", "method": "shapley", "pool": {"amount": 1.0}},
                                     "sectors": {"grouping": "sector", "method": "shapley", "pool": {"amount": 1.0}},
                                     "loo": {"grouping": "sector", "method": "loo", "pool": {"amount": 1.0}}})
    analysis = _analysis(path)
    allocations = {name: allocate(analysis, name) for name in ("works", "sectors", "loo")}
    assert not hasattr(allocations["works"], "claimants")  # per-work Shapley needs all 16 work coalitions
    table = comparison(allocations)
    assert "loo: ratio to sectors" in table.columns
    assert table[table["class"] == "TOTAL"]["sectors: amount"].iloc[0] == pytest.approx(1.0)
    tornado = sensitivity(analysis, "sectors")
    assert set(tornado["factor"]) >= {"pool", "method"}


def test_cli_compare_writes_csv_and_xlsx(tmp_path):
    path = _write(tmp_path, RIGHTS, {"a": {"grouping": "sector", "method": "shapley", "pool": {"amount": 100.0}},
                                     "b": {"grouping": "sector", "method": "banzhaf", "pool": {"amount": 100.0}}})
    result = CliRunner().invoke(cli, ["compare", str(path), "-o", str(tmp_path / "out"), "--resamples", "99"])
    assert result.exit_code == 0, result.output
    assert "TOTAL" in result.output and "x1.00" in result.output
    assert (tmp_path / "out" / "compare.csv").exists() and (tmp_path / "out" / "compare.xlsx").exists()
    bad = CliRunner().invoke(cli, ["compare", str(path), "--scenario", "zzz", "-o", str(tmp_path / "o2")])
    assert bad.exit_code == 2 and "zzz" in bad.output
