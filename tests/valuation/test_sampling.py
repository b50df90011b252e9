"""Sampled designs: the plan and the analysis draw the same coalitions; the estimates recover planted values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from expert.analysis import analyse
from expert.build import plan_case
from expert.case import load_case
from expert.evidence import read_runs

WEIGHTS = np.linspace(0.01, 0.08, 8)


def _case(tmp_path, design: str, samples: int, noise: float = 0.0):
    (tmp_path / "works.csv").write_text("id\n" + "".join(f"w{i}\n" for i in range(8)))
    (tmp_path / "case.yaml").write_text(
        "matter: {title: Sampled, date: 2026-01-01}\nworks: works.csv\ngroupings: {work: {by: id}}\n"
        "evidence: {runs: runs.csv}\n"
        f"analysis:\n  methods: [loo, banzhaf, shapley]\n  sampling: {{work: {{design: {design}, seed: 3, samples: {samples}}}}}\n"
        "  bootstrap: {resamples: 299}\n")
    planned = plan_case(tmp_path / "case.yaml", seed_sd=0.01, item_sd=0.1, n_items=40, max_exact=4)
    rng = np.random.default_rng(20261204)
    rows = []
    for c, spelling in enumerate(planned.configurations["removed"]):
        if spelling == "work:*":
            removed = {f"w{i}" for i in range(8)}
        else:
            removed = {key.split(":")[1] for key in spelling.split(";") if key}
        utility = 0.3 + sum(w for i, w in enumerate(WEIGHTS) if f"w{i}" not in removed)
        for seed in range(3):
            for item in range(40):
                rows.append((f"r{c}-{seed}", seed, spelling, "b", f"i{item}", utility + rng.normal(0, noise)))
    pd.DataFrame(rows, columns=["run", "seed", "removed", "benchmark", "item", "score"]).to_csv(tmp_path / "runs.csv",
                                                                                               index=False)
    case = load_case(tmp_path / "case.yaml")
    return analyse(case, read_runs(case))


def test_permutation_shapley_is_exact_on_an_additive_game(tmp_path):
    analysis = _case(tmp_path, "permutations", 5)
    values = analysis.values("shapley")
    assert np.allclose(values["estimate"], WEIGHTS, atol=1e-12)
    assert all(label.endswith("+sampling") for label in values["interval"])


def test_msr_banzhaf_covers_the_planted_values(tmp_path):
    analysis = _case(tmp_path, "msr", 80, noise=0.01)
    values = analysis.values("banzhaf")
    assert np.all((values["ci_low"] <= WEIGHTS) & (WEIGHTS <= values["ci_high"]))
    assert (values["std_error"] > 0).all()  # sampling variance is part of every SE
    unavailable = {(u.grouping, u.method) for u in analysis.unavailable}
    assert ("work", "shapley") in unavailable  # an MSR design does not estimate Shapley values


def test_missing_sampled_configurations_are_listed(tmp_path):
    analysis = _case(tmp_path, "msr", 40)
    from expert.valuation.sampling import sampled_design
    from expert.valuation.semivalues import coalition_label

    grouping = analysis.case.grouping("work")
    design = sampled_design(analysis.case, grouping, "msr", 3, 40)
    spellings = [coalition_label(int(sum(1 << g for g in range(8) if row[g])), grouping.groups, "work") for row in design]
    dropped = next(s for s in spellings if s.count(";") >= 2)
    runs = pd.read_csv(tmp_path / "runs.csv", keep_default_na=False)
    runs[runs["removed"] != dropped].to_csv(tmp_path / "runs.csv", index=False)
    case = load_case(tmp_path / "case.yaml")
    again = analyse(case, read_runs(case))
    missing = [u for u in again.unavailable if u.method == "banzhaf"]
    assert missing and dropped in missing[0].missing
