"""A/A noise floor, classification and multiple testing as the report computes them."""

from __future__ import annotations

import numpy as np
import pytest

from expert.analysis import analyse
from expert.case import load_case
from expert.evidence import read_runs
from expert.significance import assess


def _assess(tmp_path, write_case, make_run_table, **table):
    tmp_path.mkdir(parents=True, exist_ok=True)
    runs = make_run_table({"": 0.6, "work:a": 0.59, "publisher:P1": 0.55, "sector:S1": 0.45}, **table)
    case = load_case(write_case(tmp_path, runs=runs, analysis={"bootstrap": {"resamples": 99},
                                                               "equivalence_margin": 0.02}))
    return assess(analyse(case, read_runs(case)))


def test_aa_pairs_of_full_model_runs(tmp_path, write_case, make_run_table):
    quiet = _assess(tmp_path / "quiet", write_case, make_run_table, n_seeds=8, n_items=200, seed_sd=0.0,
                    noise_sd=0.05, rng=np.random.default_rng(1))
    # no seed effect: the paired item test is right, so few of the 28 (dependent) pairs are false positives
    assert quiet.aa["n_pairs"] == 28 and quiet.aa["false_positive_rate"] <= 0.25
    noisy = _assess(tmp_path / "noisy", write_case, make_run_table, n_seeds=4, n_items=200, seed_sd=0.05,
                    noise_sd=0.005, rng=np.random.default_rng(2))
    # seed effects dwarf the item noise: a paired item test calls most identical-data pairs significant
    assert noisy.aa["false_positive_rate"] >= 0.5
    assert noisy.aa["high"] == pytest.approx(-noisy.aa["low"])


def test_classification_uses_the_margin(tmp_path, write_case, make_run_table):
    result = _assess(tmp_path, write_case, make_run_table, n_seeds=5, n_items=400, seed_sd=0.001,
                     noise_sd=0.01, rng=np.random.default_rng(3))
    tests = result.tests.set_index(["grouping", "group"])
    assert tests.loc[("sector", "S1"), "classification"] == "material"      # 0.15 >> margin 0.02
    assert tests.loc[("work", "a"), "classification"] in ("negligible", "detectable but trivial")  # 0.01 < 0.02
    assert set(tests["family"]) == {"primary", "screen (works)"}


def test_wording_rules_on_the_generated_report(tmp_path):
    """Never 'no value'; every 'not statistically' sentence carries the MDE; 'negligible' only after TOST."""
    import re
    from pathlib import Path

    from expert.build import build

    root = Path(__file__).resolve().parents[1]
    result = build(root / "cases" / "demo" / "case.yaml", tmp_path, ["html"], resamples=99)
    html = (tmp_path / "report.html").read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    import html as html_module

    text = html_module.unescape(text)
    case = result.analysis.case
    for quoted in (case.matter.assignment, case.evidence.description):  # the case's own words are quoted, not written
        text = text.replace(" ".join(quoted.split()), "")
    assert "no value" not in text.lower()
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if "are not statistically" in sentence or "is not statistically" in sentence:
            assert "minimum detectable effect" in sentence, sentence
    from expert.significance import assess

    tests = assess(result.analysis).tests
    negligible = tests[tests["classification"].isin(["negligible", "detectable but trivial"])]
    assert negligible["equivalent"].all()
