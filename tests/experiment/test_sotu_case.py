"""The State of the Union case folder is complete and consistent (no experiment is run here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml

from expert.case import load_case
from expert.experiment import ExperimentSpec, check_experiment, plan_configurations

CASE = Path(__file__).resolve().parents[2] / "cases" / "sotu" / "case.yaml"


def sotu():
    document = yaml.safe_load(CASE.read_text(encoding="utf-8"))
    works = pd.read_csv(CASE.parent / document["works"], dtype=str, keep_default_na=False)
    groupings = {}
    for name, grouping in document["groupings"].items():
        codes, uniques = pd.factorize(works[grouping["by"]], sort=False)
        groupings[name] = (tuple(uniques), codes)
    return document, works, groupings


def test_sotu_experiment_block_fits_the_case():
    document, works, groupings = sotu()
    spec = ExperimentSpec.model_validate(document["evidence"]["experiment"])
    assert check_experiment(CASE.parent, works, groupings, spec) == []
    assert len(works) == 242 and works["year"].astype(int).max() == 2016
    assert {name: len(groups) for name, (groups, _) in groupings.items()} == {"work": 242, "president": 41, "party": 7}
    assert len(sorted((CASE.parent / "heldout").glob("*.txt.gz"))) == 7
    assert len(plan_configurations(works["id"], groupings, spec)) == 288
    assert document["evidence"]["simulated"] is False


def test_sotu_case_file_is_valid_apart_from_the_evidence(tmp_path):
    """Everything but `evidence` loads with today's case schema (the evidence points at a stand-in file)."""
    document, _, _ = sotu()
    document["evidence"] = {"runs": "runs.csv", "simulated": False}
    shutil.copy(CASE.parent / "works.csv", tmp_path / "works.csv")
    (tmp_path / "runs.csv").write_text("run,seed,removed,benchmark,score\n")
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    case = load_case(tmp_path / "case.yaml")
    assert [grouping.name for grouping in case.groupings] == ["work", "president", "party"]
    assert all(nested for _, _, nested in case.nesting)
