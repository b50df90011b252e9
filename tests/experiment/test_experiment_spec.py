"""The `evidence.experiment` block: schema and checks against the case."""

from __future__ import annotations

import re

import numpy as np
import pydantic
import pytest

from expert.experiment import ExperimentSpec, benchmark_names, check_experiment


def test_defaults(make_spec):
    spec = ExperimentSpec.model_validate({"benchmark": {"texts": ["heldout/*.txt"]}})
    assert spec.text_column == "text"
    assert spec.model.order == 3 and spec.model.smoothing == "kneser_ney" and spec.model.discounts == [0.75] * 3
    assert spec.metrics == ["bits_per_token"] and spec.subsample == 0.9 and spec.seeds == [0, 1, 2, 3, 4]
    assert spec.design.full and not spec.design.none and spec.design.loo == []
    assert benchmark_names(spec) == {"bits_per_token": "heldout-neg-bits"}
    assert benchmark_names(make_spec(metrics=["bits_per_token", "cloze"])) == {
        "bits_per_token": "heldout-neg-bits", "cloze": "heldout-cloze"}
    with pytest.raises(pydantic.ValidationError):
        spec.subsample = 0.5  # frozen


@pytest.mark.parametrize("overrides, message", [
    ({"modle": {}}, "Extra inputs are not permitted"),
    ({"model": {"order": 6}}, "less than or equal to 5"),
    ({"model": {"discount": 1.0}}, "a discount in (0, 1)"),
    ({"model": {"order": 2, "discount": [0.5, 0.6, 0.7]}}, "one discount per order (2)"),
    ({"model": {"smoothing": "witten_bell"}}, "'kneser_ney' or 'absolute_discounting'"),
    ({"metrics": ["bits_per_token", "bits_per_token"]}, "distinct values"),
    ({"metrics": ["perplexity"]}, "'bits_per_token' or 'cloze'"),
    ({"seeds": []}, "at least 1 item"),
    ({"subsample": 0}, "greater than 0"),
    ({"benchmark": {"texts": ["x"], "name": "all"}}, "reserved for the macro average"),
    ({"benchmark": {"texts": ["x"], "name": "held out"}}, "should match pattern"),
    ({"benchmark": {"texts": []}}, "at least 1 item"),
    ({"design": {"bernoulli": {"grouping": "work"}}}, "Field required"),
])
def test_experiment_spec_iv(make_spec, overrides, message):
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        make_spec(**overrides)


def test_check_experiment_accepts_the_fixture(corpus, spec):
    case_dir, works, groupings = corpus
    assert check_experiment(case_dir, works, groupings, spec) == []


def test_check_experiment_iv(corpus, make_spec):
    """Every problem at once, each with its key path."""
    case_dir, works, groupings = corpus
    works = works.copy()
    works.loc[1, "text"] = "texts/missing.txt"
    groupings = dict(groupings, many=(tuple(f"g{i}" for i in range(13)), np.arange(6) % 13))
    spec = make_spec(
        benchmark={"texts": ["heldout/*", "nothing/*.txt", "texts/a.txt"]},
        design={"loo": ["work", "publsher"], "exhaustive": "many", "permutations": {"grouping": "sectors", "n": 2}},
    )
    problems = [str(problem) for problem in check_experiment(case_dir, works, groupings, spec)]
    assert problems == [
        "evidence.experiment.text_column: expected the text file of work 'b' (works row 3, column 'text'), "
        "found no such file (texts/missing.txt)",
        "evidence.experiment.benchmark.texts[1]: expected a held-out text file or a glob matching one, found no "
        "such file (nothing/*.txt)",
        "evidence.experiment.benchmark.texts: expected held-out texts that no work trains on, found 'a.txt', the "
        "text of work 'a'",
        "evidence.experiment.design.loo[1]: expected a grouping of the case (work, publisher, sector, many), found "
        "'publsher'; did you mean 'publisher'?",
        "evidence.experiment.design.exhaustive: expected a grouping of at most 12 groups (2^k coalitions), found "
        "'many' with 13; use bernoulli or permutations sampling instead",
        "evidence.experiment.design.permutations.grouping: expected a grouping of the case (work, publisher, "
        "sector, many), found 'sectors'; did you mean 'sector'?",
    ]
    located = check_experiment(case_dir, works, groupings, spec)
    assert located[3].loc == ("evidence", "experiment", "design", "loo", 1)


def test_check_experiment_text_column_and_empty_design(corpus, make_spec):
    case_dir, works, groupings = corpus
    spec = make_spec(text_column="path", design={"full": False})
    assert [str(p) for p in check_experiment(case_dir, works, groupings, spec)] == [
        "evidence.experiment.text_column: expected a column of the works table (id, publisher, sector, topic, text), "
        "found 'path'",
        "evidence.experiment.design: expected at least one configuration (full, none, loo, exhaustive, bernoulli or "
        "permutations), found none",
    ]
