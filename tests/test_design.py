"""Tests of expert.design.make_design: which group has a leave-one-out configuration."""

from __future__ import annotations

import numpy as np
import pytest

from expert.case import load_case
from expert.design import make_design
from expert.evidence import read_runs


def test_make_design_coverage(tmp_path, write_case, make_run_table):
    utilities = {"": 0.6, "work:a": 0.59, "work:b;work:a": 0.5, "publisher:P2": 0.52, "sector:S2": 0.55,
                 "work:c;work:e": 0.4}
    case = load_case(write_case(tmp_path, runs=make_run_table(utilities, n_seeds=1, n_items=2)))
    runs = read_runs(case)
    design = make_design(case, runs)
    label = {c.index: c.label for c in runs.configurations}
    assert design.full == runs.full == 0
    work = design.of("work")
    assert work.groups == ("a", "b", "c", "d", "e", "f")
    assert [label.get(index) for index in work.loo_configuration] == ["work:a", None, None, None, None, None]
    assert work.n_available == 1 and work.missing == ("b", "c", "d", "e", "f")
    publisher = design.of("publisher")
    # publisher P1 is {a, b}: its configuration is spelled with works; P3 is sector S2
    assert [label.get(index) for index in publisher.loo_configuration] == ["work:b;work:a", "publisher:P2", "sector:S2"]
    np.testing.assert_array_equal(publisher.sizes, [2, 2, 2])
    assert design.of("sector").missing == ("S1",)
    # {c, e} is no group's complement: unassigned, kept for other estimators
    assert [label[index] for index in design.unassigned] == ["work:c;work:e"]
    with pytest.raises(KeyError):
        design.of("guild")
