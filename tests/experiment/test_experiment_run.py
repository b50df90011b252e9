"""Running an experiment: configurations, the run table, the cache, parallel backends."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest
import yaml

from expert.case import load_case
from expert.errors import CaseError, InputError
from expert.evidence import read_runs
from expert.experiment import cached_run_table, plan_configurations, run_experiment
from expert.experiment import ngram
from expert.experiment import run as run_module

from experiment_corpus import GRAPH_SEEDS, walk_text, write_text


def labels(configurations):
    return [c.label for c in configurations]


def test_plan_configurations_dedupes_by_work_set(corpus, spec):
    _, works, groupings = corpus
    planned = plan_configurations(works["id"], groupings, spec)
    # sector S2 is publisher P3: the same works, kept once under its first spelling
    assert labels(planned) == ["", "work:*", "work:a", "work:b", "work:c", "work:d", "work:e", "work:f",
                               "publisher:P1", "publisher:P2", "publisher:P3", "sector:S1"]
    assert [c.removed for c in planned[:3]] == [(), (0, 1, 2, 3, 4, 5), (0,)]
    assert planned[8].removed == (0, 1) and planned[8].origin == "loo:publisher"
    assert len({c.key for c in planned}) == len(planned)


def test_plan_coalitions(corpus, make_spec):
    _, works, groupings = corpus
    exhaustive = plan_configurations(works["id"], groupings, make_spec(design={"full": False, "exhaustive": "publisher"}))
    assert labels(exhaustive) == ["publisher:*", "publisher:P2;publisher:P3", "publisher:P1;publisher:P3",
                                  "publisher:P3", "publisher:P1;publisher:P2", "publisher:P2", "publisher:P1", ""]
    design = {"full": False, "bernoulli": {"grouping": "work", "m": 20, "seed": 3},
              "permutations": {"grouping": "publisher", "n": 4, "seed": 5}}
    first = plan_configurations(works["id"], groupings, make_spec(design=design))
    again = plan_configurations(works["id"], groupings, make_spec(design=design))
    assert first == again  # seeded
    origins = {c.origin for c in first}
    assert origins == {"bernoulli:work", "permutations:publisher"}
    other = plan_configurations(works["id"], groupings, make_spec(design=dict(design, bernoulli={"grouping": "work", "m": 20, "seed": 4})))
    assert labels(first) != labels(other)
    # every prefix of a permutation of 3 publishers is a coalition: at most 2^3 distinct
    assert len([c for c in first if c.origin == "permutations:publisher"]) <= 8


def test_run_table_is_ordinary_evidence(corpus, spec, tmp_path):
    """The table has the run-table columns and reads back through expert.evidence.read_runs."""
    case_dir, works, groupings = corpus
    table = run_experiment(case_dir, works, groupings, spec)
    assert list(table.columns) == ["run", "seed", "removed", "benchmark", "item", "score"]
    n_items = table["item"].nunique()
    assert len(table) == 12 * 3 * n_items
    assert table["benchmark"].unique().tolist() == ["heldout-neg-bits"]
    assert np.all(table["score"] < 0) and np.all(np.isfinite(table["score"]))
    assert table["run"].iloc[0] == "c00000-s1" and table["removed"].iloc[0] == ""
    table.to_parquet(case_dir / "runs.parquet", index=False)
    case = {
        "matter": {"title": "Proxy experiment test", "date": datetime.date(2026, 1, 1)},
        "works": "works.csv",
        "groupings": {"work": {"by": "id"}, "publisher": {"by": "publisher"}, "sector": {"by": "sector"}},
        "evidence": {"runs": "runs.parquet"},
    }
    (case_dir / "case.yaml").write_text(yaml.safe_dump(case, sort_keys=False))
    runs = read_runs(load_case(case_dir / "case.yaml"))
    assert runs.n_configurations == 12 and runs.matched and runs.has_items
    assert runs.seeds == ("1", "2", "3")
    assert runs.full == 0 and runs.find(frozenset(range(6))) is not None


def test_removing_related_works_costs_more(corpus, make_spec):
    """Known direction: the held-out text is about the sea, like P1's works and unlike P3's."""
    case_dir, works, groupings = corpus
    spec = make_spec(design={"full": True, "loo": ["publisher"]}, metrics=["bits_per_token", "cloze"])
    table = run_experiment(case_dir, works, groupings, spec)
    utility = table.groupby(["benchmark", "removed"], observed=True)["score"].mean()
    for benchmark in ("heldout-neg-bits", "heldout-cloze"):
        full = utility[(benchmark, "")]
        loss = {publisher: full - utility[(benchmark, f"publisher:{publisher}")] for publisher in ("P1", "P2", "P3")}
        assert loss["P1"] > 0 and loss["P1"] > 5 * max(abs(loss["P2"]), abs(loss["P3"])), loss


def test_cache_hit_miss_and_invalidation(corpus, spec, monkeypatch):
    case_dir, works, groupings = corpus
    first = cached_run_table(case_dir, works, groupings, spec)
    assert not first.cache_hit and first.n_computed == 36 and first.n_reused == 0
    assert first.summary["works"] == 6 and first.summary["benchmark_texts"] == ["sea-1", "sea-2"]
    assert list(first.summary["seed_training_tokens"]) == ["1", "2", "3"]
    assert [role for role, _, _ in first.inputs] == ["training text"] * 6 + ["held-out text"] * 2
    assert first.path.parent == case_dir / ".expert-cache" and first.path.name.startswith("experiment-")
    assert (case_dir / ".expert-cache" / ".gitignore").read_text().endswith("*\n")

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed on a cache hit")

    with monkeypatch.context() as patch:
        patch.setattr(ngram, "build_index", refuse)
        hit = cached_run_table(case_dir, works, groupings, spec)
        assert hit.cache_hit and hit.path == first.path and hit.summary == first.summary
        pd.testing.assert_frame_equal(hit.table, first.table)
        # a refresh reassembles the table from the stored results, still without computing
        refreshed = cached_run_table(case_dir, works, groupings, spec, refresh=True)
        assert not refreshed.cache_hit and refreshed.n_computed == 0 and refreshed.n_reused == 36
        pd.testing.assert_frame_equal(refreshed.table, first.table)

    # a changed text is a different corpus: everything is recomputed
    write_text(case_dir / "texts" / "e.txt", walk_text("law", 30, np.random.default_rng(5), GRAPH_SEEDS["law"]))
    changed = cached_run_table(case_dir, works, groupings, spec)
    assert not changed.cache_hit and changed.n_computed == 36 and changed.key != first.key
    assert not changed.table["score"].equals(first.table["score"])
    # so is a changed model
    other_model = spec.model_copy(update={"model": spec.model.model_copy(update={"discount": 0.5})})
    assert cached_run_table(case_dir, works, groupings, other_model).n_computed == 36


def test_grown_design_reuses_finished_configurations(corpus, make_spec):
    case_dir, works, groupings = corpus
    small = cached_run_table(case_dir, works, groupings, make_spec(design={"loo": ["work"]}))
    assert small.n_computed == 7 * 3
    grown = cached_run_table(case_dir, works, groupings,
                             make_spec(design={"loo": ["work", "publisher"]}, seeds=[1, 2, 3, 4]))
    assert list(grown.summary["seed_training_tokens"]) == ["1", "2", "3", "4"]
    # 3 publishers are new for seeds 1-3; all 10 configurations are new for seed 4
    assert grown.n_reused == 21 and grown.n_computed == 3 * 3 + 10
    direct = run_experiment(case_dir, works, groupings, make_spec(design={"loo": ["work", "publisher"]}, seeds=[1, 2, 3, 4]))
    pd.testing.assert_frame_equal(grown.table, direct)


def test_interrupted_run_resumes(corpus, spec, monkeypatch):
    case_dir, works, groupings = corpus
    monkeypatch.setattr(run_module, "FLUSH_SECONDS", 0.0)  # write every finished chunk
    finished = []

    def interrupt(message):
        if "/36 configuration x seed pairs" in message:
            finished.append(int(message.split("/")[0]))
            if len(finished) == 2:
                raise KeyboardInterrupt  # Ctrl-C after the second chunk

    with pytest.raises(KeyboardInterrupt):
        cached_run_table(case_dir, works, groupings, spec, progress=interrupt)
    assert 0 < finished[-1] < 36
    assert not list((case_dir / ".expert-cache").glob("experiment-*.parquet"))  # no table yet
    assert not list((case_dir / ".expert-cache").rglob("*.tmp"))  # nothing half-written
    resumed = cached_run_table(case_dir, works, groupings, spec)
    assert resumed.n_reused == finished[-1] and resumed.n_computed == 36 - finished[-1]
    pd.testing.assert_frame_equal(resumed.table, run_experiment(case_dir, works, groupings, spec))
    store = next(p for p in (case_dir / ".expert-cache").iterdir() if p.is_dir())
    assert len(list(store.glob("results-*.parquet"))) == 1  # consolidated


def test_damaged_cache_files_are_recomputed_not_trusted(corpus, spec):
    case_dir, works, groupings = corpus
    first = cached_run_table(case_dir, works, groupings, spec)
    first.path.write_bytes(b"PAR1 not really")
    store = next(p for p in (case_dir / ".expert-cache").iterdir() if p.is_dir())
    for path in store.glob("results-*.parquet"):
        path.write_bytes(path.read_bytes()[:100])
    messages = []
    again = cached_run_table(case_dir, works, groupings, spec, progress=messages.append)
    assert again.n_computed == 36 and any(m.startswith("skipped unreadable cache file") for m in messages)
    pd.testing.assert_frame_equal(again.table, first.table)


def test_serial_and_parallel_tables_are_byte_identical(corpus, spec, tmp_path):
    case_dir, works, groupings = corpus
    serial = cached_run_table(case_dir, works, groupings, spec, jobs=1, cache_dir=tmp_path / "serial")
    parallel = cached_run_table(case_dir, works, groupings, spec, jobs=2, cache_dir=tmp_path / "parallel")
    assert serial.path.name == parallel.path.name
    assert serial.path.read_bytes() == parallel.path.read_bytes()
    pd.testing.assert_frame_equal(serial.table, parallel.table)


def test_run_experiment_iv(corpus, spec, make_spec):
    case_dir, works, groupings = corpus
    with pytest.raises(InputError, match="--jobs: expected a positive number of workers or -1"):
        run_experiment(case_dir, works, groupings, spec, jobs=0)
    with pytest.raises(InputError, match="--backend: expected one of loky, ray, dask, found 'spark'"):
        run_experiment(case_dir, works, groupings, spec, jobs=2, backend="spark")
    with pytest.raises(CaseError, match="design.loo\\[0\\]: expected a grouping of the case"):
        run_experiment(case_dir, works, groupings, make_spec(design={"loo": ["publishers"]}))
    with pytest.raises(CaseError, match="benchmark.item_tokens: expected at most as many tokens"):
        run_experiment(case_dir, works, groupings, make_spec(benchmark={"texts": ["heldout/*"], "item_tokens": 50_000}))


def test_progress_reports_counts_and_rate(corpus, spec):
    case_dir, works, groupings = corpus
    messages = []
    run_experiment(case_dir, works, groupings, spec, progress=messages.append)
    assert messages[0].startswith("reading and tokenising 6 works and 2 held-out texts")
    assert messages[-1].startswith("36/36 configuration x seed pairs (") and "/s," in messages[-1]


@pytest.mark.parametrize("backend, module", [("dask", "dask.distributed"), ("ray", "ray.util.joblib")])
def test_ray_and_dask_backends_give_the_same_table(corpus, spec, backend, module):
    """The optional cluster backends (extras expert[dask], expert[ray]); skipped when not installed."""
    pytest.importorskip(module)
    case_dir, works, groupings = corpus
    serial = run_experiment(case_dir, works, groupings, spec)
    distributed = run_experiment(case_dir, works, groupings, spec, jobs=2, backend=backend)
    pd.testing.assert_frame_equal(serial, distributed)


def test_coalition_designs_through_group_tables_match_per_work_scoring(corpus, make_spec, monkeypatch):
    case_dir, works, groupings = corpus
    spec = make_spec(design={"exhaustive": "work"})
    messages = []
    grouped = run_experiment(case_dir, works, groupings, spec, progress=messages.append)
    assert any("scored through group tables" in message for message in messages)
    monkeypatch.setattr(run_module, "MIN_GROUP_CONFIGURATIONS", 10**9)
    messages.clear()
    per_work = run_experiment(case_dir, works, groupings, spec, progress=messages.append)
    assert not any("group tables" in message for message in messages)
    pd.testing.assert_frame_equal(grouped, per_work)
    assert grouped["removed"].nunique() == 64
