"""expert plan: configurations a question needs and seeds for a target MDE."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from expert.build import plan_case
from expert.cli import cli
from expert.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "cases" / "demo" / "case.yaml"


def test_demo_requirements_and_csv(tmp_path):
    out = tmp_path / "plan.csv"
    result = plan_case(DEMO, target=0.003, out_path=out)
    req = result.requirements.set_index(["method", "grouping"])
    assert req.loc[("loo", "sector"), "missing"] == 0          # all sector LOO configurations present
    assert req.loc[("shapley", "sector"), "configurations"] == 32
    assert req.loc[("shapley", "sector"), "missing"] == 0
    assert req.loc[("loo", "work"), "missing"] == 192           # 8 of 200 works have LOO runs
    assert req.loc[("loo", "work"), "runs_to_train"] == 192 * 5
    rows = list(csv.DictReader(out.open()))
    assert {row["seeds"] for row in rows} == {"5"}
    assert "work:W003" in {row["removed"] for row in rows}
    assert all(row["removed"] != "" for row in rows)            # the full model exists already


def test_seeds_needed_solve_the_mde_equation():
    result = plan_case(DEMO, target=0.003)
    z = 1.959963984540054 + 0.8416212335729143
    for row in result.seeds.itertuples():
        if np.isfinite(row.seeds_needed) and row.seed_variance > 0:
            reached = z * np.sqrt(row.seed_variance / row.seeds_needed + row.item_variance)
            assert reached <= 0.003 + 1e-12
            if row.seeds_needed > 2:
                before = z * np.sqrt(row.seed_variance / (row.seeds_needed - 1) + row.item_variance)
                assert before > 0.003
        elif not np.isfinite(row.seeds_needed):
            assert row.item_floor >= 0.003                      # below the item floor no seed count helps


def test_plan_without_evidence_needs_assumptions(tmp_path):
    case = tmp_path / "case.yaml"
    (tmp_path / "works.csv").write_text("id,sector\na,s1\nb,s2\nc,s2\n")
    case.write_text("matter: {title: T, date: 2026-01-01}\nworks: works.csv\n"
                    "groupings: {work: {by: id}, sector: {by: sector}}\nevidence: {runs: runs.csv}\n"
                    "analysis: {methods: [loo, shapley]}\n")
    with pytest.raises(InputError, match="--seed-sd"):
        plan_case(case)
    result = plan_case(case, seed_sd=0.005, item_sd=0.2, n_items=1000, target=0.01, out_path=tmp_path / "p.csv")
    assert result.seeds["seeds_needed"].iloc[0] >= 2
    removed = set(result.configurations["removed"])
    # exact Shapley over 3 works needs all 8 coalitions; over 2 sectors all 4 (some coincide with works' ones)
    assert {"", "work:a", "work:a;work:b", "work:*", "sector:s2"} <= removed  # sector:s1 is work:a
    assert not result.configurations["present"].any()


def test_cli_plan(tmp_path):
    out = tmp_path / "plan.csv"
    result = CliRunner().invoke(cli, ["plan", str(DEMO), "--target", "0.003", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "configurations to train" in result.output and out.exists()
