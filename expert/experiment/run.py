"""Run a proxy ablation experiment and write its run table, with a resumable cache.

:func:`run_experiment` turns a case's works, groupings and ``evidence.experiment``
block into an ordinary run table (DESIGN.md "Run table"): one row per
(configuration, seed, benchmark, item). :func:`cached_run_table` does the same
through a cache next to the case file, so a repeated build costs one Parquet
read, a grown design (more groupings, more seeds) computes only what is new,
and an interrupted run resumes where it stopped.

Pipeline: read the texts -> tokenise -> fixed vocabulary -> :func:`~expert.experiment.ngram.build_index`
-> per seed :func:`~expert.experiment.ngram.build_seed_tables` -> evaluate every
missing (configuration, seed) in chunks with joblib (``loky`` processes, or Ray or
Dask through joblib's backend) -> assemble the table in design order. The
table does not depend on the backend, the number of workers or the chunking:
every statistic is an integer count and every chunk is scored by the same code.

Cache layout (``<case folder>/.expert-cache/``; the folder ignores itself in git)::

    experiment-<table key>.parquet   the run table of one (corpus, benchmark, model, metrics,
                                     seeds, design): a hit returns it after one read
    experiment-<store key>/          results per (configuration, seed) for one (corpus,
      store.json                     benchmark, model, metrics, subsample); reused when the
      results-*.parquet              design or the seeds change; written in atomic batches

Keys are SHA-256 (the first 16 hex digits name the files; the full key is stored
inside and checked). The store key covers the format version, the source of
:mod:`~expert.experiment.ngram` (a changed model is a different experiment), every work's id
and the SHA-256 of its text file, the held-out files and their SHA-256, the item
settings, the model, the metrics (and cloze settings) and the subsample share. The
table key adds the source of this module (the table's layout), the seeds, the
benchmark names and every configuration (its ``removed`` spelling and the ids of
the works it removes). The table's Parquet metadata also holds a JSON summary of
the corpus and the model (:attr:`ExperimentResult.summary`).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import json
import lzma
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from .._files import sha256_of
from ..errors import CaseError, InputError
from . import ngram
from .spec import ExperimentSpec, _groups_of, benchmark_names, check_experiment, expand_benchmark_texts

__all__ = [
    "ExperimentResult",
    "PlannedConfiguration",
    "plan_configurations",
    "run_experiment",
    "cached_run_table",
    "read_text",
    "BACKENDS",
    "CACHE_DIRECTORY",
    "CACHE_FORMAT",
]

BACKENDS = ("loky", "ray", "dask")
CACHE_DIRECTORY = ".expert-cache"
CACHE_FORMAT = 1
RUN_COLUMNS = ["run", "seed", "removed", "benchmark", "item", "score"]
FLUSH_SECONDS = 5.0
MAX_CHUNK = 256

Progress = Callable[[str], None]


# ----------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class PlannedConfiguration:
    """One configuration of the design.

    Attributes
    ----------
    label : str
        The ``removed`` cell: ``;``-separated ``grouping:group`` keys of the groups left
        out, ``""`` for the full model, ``grouping:*`` for no data.
    removed : tuple of int
        Sorted indices of the works left out.
    key : str
        SHA-256 (32 hex digits) of the sorted ids of the works left out: the same set of
        works is the same configuration whatever its spelling.
    origin : str
        The design entry that asked for it first (``full``, ``none``, ``loo:<grouping>``,
        ``exhaustive:<grouping>``, ``bernoulli:<grouping>``, ``permutations:<grouping>``).
    """

    label: str
    removed: tuple[int, ...] = field(repr=False)
    key: str
    origin: str


def plan_configurations(work_ids: Iterable[str], groupings: dict, spec: ExperimentSpec) -> tuple[PlannedConfiguration, ...]:
    """The configurations of ``spec.design``, in design order, each set of works once.

    Order: full, none, each ``loo`` grouping (groups in case order), ``exhaustive``
    (coalitions by bitmask), ``bernoulli``, ``permutations``. A set of works asked for
    twice (e.g. a president who is the only member of a party) keeps its first spelling.
    Coalition configurations are spelled as the groups *not* in the coalition.
    """
    work_ids = [str(work) for work in work_ids]
    n_works = len(work_ids)
    design = spec.design
    planned: list[PlannedConfiguration] = []
    seen: set[str] = set()

    def add(label: str, removed: np.ndarray, origin: str) -> None:
        removed = np.unique(np.asarray(removed, dtype=np.int64))
        key = _configuration_key(work_ids, removed)
        if key not in seen:
            seen.add(key)
            planned.append(PlannedConfiguration(label, tuple(int(i) for i in removed), key, origin))

    def coalition(name: str, present: np.ndarray, origin: str) -> None:
        groups, membership = _groups_of(groupings[name])
        absent = np.flatnonzero(~present)
        if len(absent) == len(groups):
            label = f"{name}:*"
        else:
            label = ";".join(f"{name}:{groups[g]}" for g in absent)
        add(label, np.flatnonzero(np.isin(membership, absent)), origin)

    first = next(iter(groupings))
    if design.full:
        add("", np.zeros(0, dtype=np.int64), "full")
    if design.none:
        add(f"{first}:*", np.arange(n_works), "none")
    for name in design.loo:
        groups, membership = _groups_of(groupings[name])
        for index, group in enumerate(groups):
            add(f"{name}:{group}", np.flatnonzero(membership == index), f"loo:{name}")
    if design.exhaustive is not None:
        name = design.exhaustive
        k = len(_groups_of(groupings[name])[0])
        for mask in range(2**k):
            present = np.array([(mask >> g) & 1 for g in range(k)], dtype=bool)
            coalition(name, present, f"exhaustive:{name}")
    if design.bernoulli is not None:
        name = design.bernoulli.grouping
        k = len(_groups_of(groupings[name])[0])
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(design.bernoulli.seed)))
        for present in rng.random((design.bernoulli.m, k)) < 0.5:
            coalition(name, present, f"bernoulli:{name}")
    if design.permutations is not None:
        name = design.permutations.grouping
        k = len(_groups_of(groupings[name])[0])
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(design.permutations.seed)))
        for _ in range(design.permutations.n):
            order = rng.permutation(k)
            present = np.zeros(k, dtype=bool)
            coalition(name, present.copy(), f"permutations:{name}")
            for group in order:
                present[group] = True
                coalition(name, present.copy(), f"permutations:{name}")
    return tuple(planned)


def _configuration_key(work_ids: list[str], removed: np.ndarray) -> str:
    text = "\n".join(sorted(work_ids[i] for i in removed))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# ----------------------------------------------------------------------------- inputs


def read_text(path: Path) -> str:
    """A text file, decompressed when it ends in .gz, .bz2 or .xz, decoded as UTF-8."""
    raw = path.read_bytes()
    name = path.name.lower()
    try:
        if name.endswith(".gz"):
            raw = gzip.decompress(raw)
        elif name.endswith(".bz2"):
            raw = bz2.decompress(raw)
        elif name.endswith(".xz"):
            raw = lzma.decompress(raw)
    except (OSError, EOFError, ValueError, lzma.LZMAError) as error:
        raise CaseError(f"{path}: (file): expected a compressed text file, found unreadable data ({error})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CaseError(f"{path}:{line}: (file): expected UTF-8 text, found byte 0x{raw[error.start]:02x}") from None


@dataclass(frozen=True)
class _Inputs:
    """The resolved files of an experiment, their hashes and the cache keys."""

    work_ids: tuple[str, ...]
    work_files: tuple[Path, ...]
    work_hashes: tuple[str, ...]
    bench_files: tuple[Path, ...]
    bench_hashes: tuple[str, ...]
    bench_labels: tuple[str, ...]
    configurations: tuple[PlannedConfiguration, ...]
    memberships: dict
    store_key: str
    table_key: str


def _resolve_inputs(case_dir: Path, works: pd.DataFrame, groupings: dict, spec: ExperimentSpec) -> _Inputs:
    case_dir = Path(case_dir).resolve()
    problems = check_experiment(case_dir, works, groupings, spec)
    if problems:
        raise CaseError([f"{case_dir}: {problem}" for problem in problems])
    work_ids = tuple(str(work) for work in works["id"])
    work_files = tuple((case_dir / str(relative).strip()).resolve() for relative in works[spec.text_column])
    bench_files, _ = expand_benchmark_texts(case_dir, spec)
    work_hashes = tuple(sha256_of(path) for path in work_files)
    bench_hashes = tuple(sha256_of(path) for path in bench_files)
    configurations = plan_configurations(work_ids, groupings, spec)

    stems = [_strip_suffixes(path.name) for path in bench_files]
    if len(set(stems)) < len(stems):
        stems = [_strip_suffixes(_relative(path, case_dir)) for path in bench_files]
    store = {
        "format": CACHE_FORMAT,
        "code": _code_hash(),
        "works": sorted([work, digest] for work, digest in zip(work_ids, work_hashes)),
        "benchmark": {
            "texts": [[label, digest] for label, digest in zip(stems, bench_hashes)],
            "item_tokens": spec.benchmark.item_tokens,
            "max_items": spec.benchmark.max_items,
        },
        "model": spec.model.model_dump(mode="json"),
        "metrics": sorted(spec.metrics),
        "cloze": spec.cloze.model_dump(mode="json") if "cloze" in spec.metrics else None,
        "subsample": spec.subsample,
    }
    store_key = _sha256_json(store)
    table = {
        "store": store_key,
        "assembly": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),  # how the table is laid out
        "seeds": list(spec.seeds),
        "metrics": list(spec.metrics),
        "benchmarks": benchmark_names(spec),
        "configurations": [[c.label, c.key] for c in configurations],
    }
    memberships = {name: _groups_of(value)[1] for name, value in groupings.items()}
    return _Inputs(work_ids, work_files, work_hashes, tuple(bench_files), bench_hashes, tuple(stems), configurations,
                   memberships, store_key, _sha256_json(table))


def _code_hash() -> str:
    """SHA-256 of the proxy model's source: a changed model is a different experiment."""
    return hashlib.sha256(Path(ngram.__file__).read_bytes()).hexdigest()


def _strip_suffixes(name: str) -> str:
    for suffix in (".gz", ".bz2", ".xz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    if name.lower().endswith(".txt"):
        name = name[:-4]
    return name


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _sha256_json(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class _Prepared:
    index: ngram.NgramIndex
    vocabulary: ngram.Vocabulary
    seconds: dict
    summary: dict


def _prepare(inputs: _Inputs, spec: ExperimentSpec, say: Progress) -> _Prepared:
    seconds = {}
    start = time.perf_counter()
    say(f"reading and tokenising {len(inputs.work_files)} works and {len(inputs.bench_files)} held-out texts")
    vocabulary, train = ngram.encode_documents((read_text(path) for path in inputs.work_files),
                                               spec.model.vocabulary.min_count)
    bench = ngram.encode_texts([ngram.split_sentences(read_text(path)) for path in inputs.bench_files], vocabulary)
    seconds["tokenise"] = time.perf_counter() - start
    start = time.perf_counter()
    say(f"{len(train.tokens):,} training tokens, vocabulary of {vocabulary.size - 2:,} words ({vocabulary.size:,} "
        f"predictable tokens with </s> and <unk>); building the n-gram index")
    index = ngram.build_index(
        train, bench, inputs.bench_labels,
        vocabulary=vocabulary,
        order=spec.model.order,
        smoothing=spec.model.smoothing,
        discounts=spec.model.discounts,
        item_tokens=spec.benchmark.item_tokens,
        max_items=spec.benchmark.max_items,
        cloze_distractors=spec.cloze.distractors if "cloze" in spec.metrics else 0,
        cloze_seed=spec.cloze.seed,
    )
    seconds["index"] = time.perf_counter() - start
    say(f"index ready: {index.n_items} benchmark items of {index.item_tokens} tokens, {index.n_queries:,} queries, "
        f"{index.n_windows:,} tracked n-grams ({seconds['index']:.1f} s)")
    summary = {
        "works": train.n_texts,
        "training_tokens": int(len(train.tokens)),
        "training_sentences": int(train.n_sentences),
        "vocabulary_size": int(vocabulary.size),
        "benchmark_texts": list(inputs.bench_labels),
        "benchmark_tokens": int(len(bench.tokens)),
        "benchmark_items": int(index.n_items),
        "item_tokens": int(index.item_tokens),
        "cloze_questions": int(len(index.cloze_position)),
        "tracked_ngrams": int(index.n_windows),
    }
    return _Prepared(index, vocabulary, seconds, summary)


_METRIC_KEY = {"bits_per_token": "neg_bits_per_token", "cloze": "cloze"}


_GROUP_TABLES: OrderedDict = OrderedDict()  # per process: (seed tables token, grouping) -> GroupTables
_GROUP_TABLES_KEPT = 2
MIN_GROUP_CONFIGURATIONS = 32  # per seed: fewer coalitions of a grouping go through the per-work tables


def _group_tables(index: ngram.NgramIndex, tables: ngram.SeedTables, name: str, membership) -> ngram.GroupTables:
    key = (tables.token, name)
    if key not in _GROUP_TABLES:
        _GROUP_TABLES[key] = ngram.build_group_tables(index, tables, membership)
        while len(_GROUP_TABLES) > _GROUP_TABLES_KEPT:
            _GROUP_TABLES.popitem(last=False)
    _GROUP_TABLES.move_to_end(key)
    return _GROUP_TABLES[key]


def _evaluate_chunk(index: ngram.NgramIndex, tables: ngram.SeedTables, chunk: list, metrics: tuple,
                    memberships: dict) -> list:
    """Score a chunk of configurations for one seed: ``[(key, seed, {metric: scores}), ...]``.

    Each item is ``(key, removed works, coalition)``; ``coalition`` is ``(grouping, bitmask of
    present groups)`` when the configuration is scored through that grouping's group tables.
    """
    out = []
    for key, removed, coalition in chunk:
        if coalition is None:
            raw, typ = ngram.coalition_statistics(index, tables, np.asarray(removed, dtype=np.int64))
        else:
            name, present = coalition
            groups = _group_tables(index, tables, name, memberships[name])
            raw, typ = ngram.group_coalition_statistics(index, tables, groups, present)
        scores = ngram.score_items(index, ngram.log2prob_from_statistics(index, raw, typ))
        out.append((key, tables.seed, {metric: scores[_METRIC_KEY[metric]] for metric in metrics}))
    return out


def _coalitions(inputs: _Inputs, spec: ExperimentSpec, index: ngram.NgramIndex,
                missing: list[tuple[PlannedConfiguration, int]]) -> dict:
    """Configuration key -> (grouping, present bitmask) for those worth scoring through group tables.

    Candidates are the groupings of the sampled and exhaustive designs whose tables fit in
    memory; a configuration qualifies when it removes whole groups of the grouping, and a
    grouping is used when at least :data:`MIN_GROUP_CONFIGURATIONS` configurations of a seed
    qualify (its tables cost about as much as a dozen configurations).
    """
    design = spec.design
    candidates = [design.exhaustive] + [d.grouping for d in (design.bernoulli, design.permutations) if d is not None]
    assigned: dict = {}
    n_works = len(inputs.work_ids)
    keys = {c.key: c for c, _ in missing}
    for name in dict.fromkeys(c for c in candidates if c is not None):
        membership = inputs.memberships[name]
        sizes = np.bincount(membership)
        if not ngram.group_tables_fit(index, len(sizes)):
            continue
        found = {}
        for key, configuration in keys.items():
            if key in assigned:
                continue
            removed = np.asarray(configuration.removed, dtype=np.int64)
            if len(removed) in (0, n_works):
                continue  # the full and the empty model are cheap either way
            counts = np.bincount(membership[removed], minlength=len(sizes))
            if np.all((counts == 0) | (counts == sizes)):
                found[key] = (name, int(sum(1 << g for g in np.flatnonzero(counts == 0))))
        per_seed = max((sum(1 for c, s in missing if s == seed and c.key in found) for seed in spec.seeds), default=0)
        if per_seed >= MIN_GROUP_CONFIGURATIONS:
            assigned.update(found)
    return assigned


@contextlib.contextmanager
def _backend(backend: str, jobs: int):
    """Joblib's parallel configuration for ``backend``; Ray and Dask are imported only here."""
    import joblib

    if backend not in BACKENDS:
        raise InputError(f"--backend: expected one of {', '.join(BACKENDS)}, found {backend!r}")
    if backend == "loky" or jobs == 1:
        with joblib.parallel_config(backend="loky" if jobs != 1 else "sequential", n_jobs=jobs):
            yield
        return
    if backend == "ray":
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError:
            raise InputError("--backend ray: expected Ray to be installed, found it missing; "
                             "install it with: pip install 'expert[ray]'") from None
        register_ray()
        started = not ray.is_initialized()
        if started:
            ray.init(num_cpus=jobs if jobs > 0 else None, include_dashboard=False, log_to_driver=False)
        try:
            with joblib.parallel_config(backend="ray", n_jobs=jobs):
                yield
        finally:
            if started:
                ray.shutdown()
        return
    try:
        from dask.distributed import Client, get_client
    except ImportError:
        raise InputError("--backend dask: expected dask.distributed to be installed, found it missing; "
                         "install it with: pip install 'expert[dask]'") from None
    try:
        client, started = get_client(), False
    except ValueError:
        client = Client(n_workers=jobs if jobs > 0 else None, threads_per_worker=1, processes=True,
                        dashboard_address=None)
        started = True
    try:
        with joblib.parallel_config(backend="dask", n_jobs=jobs):
            yield
    finally:
        if started:
            client.close()


def _compute(inputs: _Inputs, spec: ExperimentSpec, missing: list[tuple[PlannedConfiguration, int]], *, jobs: int,
             backend: str, say: Progress, on_results: Callable[[list], None]) -> tuple[dict, dict]:
    """Evaluate every (configuration, seed) in ``missing``; results go to ``on_results`` as chunks finish.

    Returns the seconds per step and a summary of the corpus and the model.
    """
    import joblib

    if not missing:
        return {}, {}
    prepared = _prepare(inputs, spec, say)
    index = prepared.index
    seeds = [seed for seed in spec.seeds if any(s == seed for _, s in missing)]
    start = time.perf_counter()
    tables = {}
    for seed in seeds:
        tables[seed] = ngram.build_seed_tables(index, seed, inputs.work_ids, spec.subsample)
    prepared.seconds["seed_tables"] = time.perf_counter() - start
    prepared.summary["seed_training_tokens"] = {str(seed): int(tables[seed].n_tokens.sum()) for seed in seeds}
    say(f"counted {len(seeds)} seed subsample(s) in {prepared.seconds['seed_tables']:.1f} s "
        f"({tables[seeds[0]].nbytes / 1e6:.0f} MB each)")
    scoring = index.without_plan()
    n_workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    coalitions = _coalitions(inputs, spec, index, missing)
    if coalitions:
        names = sorted({name for name, _ in coalitions.values()})
        say(f"{len(coalitions):,} configurations are coalitions of {', '.join(names)}: scored through group tables")
    per_seed = {seed: [(c.key, c.removed, coalitions.get(c.key)) for c, s in missing if s == seed] for seed in seeds}
    total = len(missing)
    size = max(8, min(MAX_CHUNK, -(-total // (4 * n_workers))))
    tasks = []
    for seed in seeds:
        pending = per_seed[seed]
        for first in range(0, len(pending), size):
            tasks.append((seed, pending[first:first + size]))
    metrics = tuple(spec.metrics)
    where = "in this process" if jobs == 1 else f"on {n_workers if backend == 'loky' else jobs} {backend} workers"
    say(f"evaluating {total:,} configuration x seed pairs in {len(tasks)} chunks {where}")
    done = 0
    start = time.perf_counter()
    with _backend(backend, jobs):
        memberships = {name: inputs.memberships[name] for name in {name for name, _ in coalitions.values()}}
        calls = [joblib.delayed(_evaluate_chunk)(scoring, tables[seed], chunk, metrics, memberships)
                 for seed, chunk in tasks]
        for results in _results_as_finished(calls, streaming=not (backend == "ray" and jobs != 1), wave=2 * n_workers):
            on_results(results)
            done += len(results)
            elapsed = time.perf_counter() - start
            rate = done / elapsed if elapsed > 0 else float("inf")
            left = (total - done) / rate if rate > 0 else 0.0
            say(f"{done:,}/{total:,} configuration x seed pairs ({rate:,.0f}/s, {elapsed:,.1f} s elapsed, ~{left:,.0f} s left)")
    prepared.seconds["evaluate"] = time.perf_counter() - start
    return prepared.seconds, prepared.summary


def _results_as_finished(calls: list, *, streaming: bool, wave: int):
    """Each call's result as soon as it is available (results are keyed, so order does not matter).

    Ray's joblib backend returns lists only: there, calls run in waves of ``wave``, so that
    finished results still reach the cache while the experiment runs.
    """
    import joblib

    if streaming:
        yield from joblib.Parallel(return_as="generator_unordered")(calls)
        return
    for first in range(0, len(calls), wave):
        yield from joblib.Parallel(return_as="list")(calls[first:first + wave])


# ----------------------------------------------------------------------------- the run table


def _assemble(inputs: _Inputs, spec: ExperimentSpec, results: dict, item_ids: tuple[str, ...]) -> pd.DataFrame:
    """The long run table, in design order: configuration, seed, benchmark, item."""
    names = benchmark_names(spec)
    n_items = len(item_ids)
    blocks = []
    labels, runs, seeds, benchmarks = [], [], [], []
    for index, configuration in enumerate(inputs.configurations):
        for seed in spec.seeds:
            for metric in spec.metrics:
                blocks.append(results[(configuration.key, seed, metric)])
                labels.append(index)
                runs.append(f"c{index:05d}-s{seed}")
                seeds.append(seed)
                benchmarks.append(names[metric])
    n_blocks = len(blocks)
    label_categories = [c.label for c in inputs.configurations]
    run_codes, run_categories = pd.factorize(pd.Series(runs, dtype=object), sort=False)
    bench_codes, bench_categories = pd.factorize(pd.Series(benchmarks, dtype=object), sort=False)
    frame = pd.DataFrame({
        "run": pd.Categorical.from_codes(np.repeat(run_codes, n_items), categories=list(run_categories)),
        "seed": np.repeat(np.asarray(seeds, dtype=np.int64), n_items),
        "removed": pd.Categorical.from_codes(np.repeat(np.asarray(labels, dtype=np.int64), n_items),
                                             categories=label_categories),
        "benchmark": pd.Categorical.from_codes(np.repeat(bench_codes, n_items), categories=list(bench_categories)),
        "item": pd.Categorical.from_codes(np.tile(np.arange(n_items), n_blocks), categories=list(item_ids)),
        "score": np.concatenate(blocks) if blocks else np.zeros(0),
    })
    return frame


@dataclass(frozen=True)
class ExperimentResult:
    """A run table produced by a proxy experiment.

    Attributes
    ----------
    table : pandas.DataFrame
        The run table: columns ``run, seed, removed, benchmark, item, score``
        (``run``, ``removed``, ``benchmark`` and ``item`` categorical).
    path : Path or None
        The cached Parquet file of the table (None when not cached).
    key : str
        SHA-256 of everything the table depends on.
    cache_hit : bool
        True when the table was read from the cache without computing anything.
    n_configurations, n_seeds, n_items : int
    n_computed, n_reused : int
        (configuration, seed) pairs computed now and read from the cache.
    benchmarks : dict
        Metric -> benchmark name.
    seconds : dict
        Time per step.
    summary : dict
        The corpus and the model, for the report: ``works``, ``training_tokens``,
        ``training_sentences``, ``vocabulary_size`` (``V``: the words, ``</s>`` and ``<unk>``), ``benchmark_texts``,
        ``benchmark_tokens``, ``benchmark_items``, ``item_tokens``, ``cloze_questions``,
        ``tracked_ngrams``, ``seed_training_tokens`` (seed -> predicted tokens trained on);
        empty when unknown (a table assembled from an older store).
    inputs : tuple of (str, Path, str)
        ``(role, path, sha256)`` of every file the experiment read: ``training text``
        (one per work) and ``held-out text``, for the materials-considered list.
    """

    table: pd.DataFrame = field(repr=False)
    path: Path | None
    key: str
    cache_hit: bool
    n_configurations: int
    n_seeds: int
    n_items: int
    n_computed: int
    n_reused: int
    benchmarks: dict
    seconds: dict
    summary: dict = field(default_factory=dict, repr=False)
    inputs: tuple = field(default=(), repr=False)


def run_experiment(case_dir: Path, works: pd.DataFrame, groupings: dict, spec: ExperimentSpec, *, jobs: int = 1,
                   backend: str = "loky", progress: Progress | None = None) -> pd.DataFrame:
    """Run the proxy ablation experiment of a case, without any cache.

    Parameters
    ----------
    case_dir : Path
        The folder that the text paths are relative to (the case file's folder).
    works : pandas.DataFrame
        The works table: column ``id`` and ``spec.text_column``.
    groupings : dict
        Grouping name -> ``(groups, membership)`` (``membership[i]`` is the index in
        ``groups`` of work ``i``), or an object with those attributes such as
        :class:`expert.case.Grouping`. The first grouping spells the no-data configuration.
    spec : ExperimentSpec
        The validated ``evidence.experiment`` block.
    jobs : int
        Worker processes (``-1``: one per CPU).
    backend : {"loky", "ray", "dask"}
        joblib's process pool, or a Ray or Dask cluster through joblib's backend (with
        ``jobs=1`` everything runs in this process).
    progress : callable, optional
        Called with one-line messages (stages, counts, rate, time left).

    Returns
    -------
    pandas.DataFrame
        The run table (see :class:`ExperimentResult`).

    Raises
    ------
    CaseError
        When the experiment block does not fit the case (every problem at once).
    InputError
        For an unknown or unavailable backend.
    """
    jobs = _jobs_iv(jobs)
    _backend_iv(backend, jobs)
    say = progress or (lambda message: None)
    inputs = _resolve_inputs(Path(case_dir), works, groupings, spec)
    missing = [(c, seed) for c in inputs.configurations for seed in spec.seeds]
    results: dict = {}

    def keep(chunk: list) -> None:
        for key, seed, scores in chunk:
            for metric, values in scores.items():
                results[(key, seed, metric)] = values

    item_ids = _item_ids(inputs, spec)
    _compute(inputs, spec, missing, jobs=jobs, backend=backend, say=say, on_results=keep)
    return _assemble(inputs, spec, results, item_ids)


def _item_ids(inputs: _Inputs, spec: ExperimentSpec) -> tuple[str, ...]:
    """The benchmark item ids without building the index (the held-out texts are tokenised again)."""
    predictions = [sum(len(sentence) + 1 for sentence in ngram.split_sentences(read_text(path)))
                   for path in inputs.bench_files]
    ids, _, _ = ngram.item_layout(predictions, inputs.bench_labels, spec.benchmark.item_tokens,
                                  spec.benchmark.max_items)
    if not ids:
        raise CaseError(f"evidence.experiment.benchmark.item_tokens: expected at most as many tokens as the held-out "
                        f"texts hold ({max(predictions, default=0)} in the longest), found {spec.benchmark.item_tokens}")
    return ids


def _backend_iv(backend: str, jobs: int) -> None:
    """The backend is known and, when it will be used, installed (checked before any work)."""
    import importlib.util

    if backend not in BACKENDS:
        raise InputError(f"--backend: expected one of {', '.join(BACKENDS)}, found {backend!r}")
    module = {"ray": "ray", "dask": "distributed"}.get(backend)
    if module is not None and jobs != 1 and importlib.util.find_spec(module) is None:
        raise InputError(f"--backend {backend}: expected {backend.capitalize()} to be installed, found it missing; "
                         f"install it with: pip install 'expert[{backend}]'")


def _jobs_iv(jobs) -> int:
    if not isinstance(jobs, (int, np.integer)) or isinstance(jobs, bool) or jobs == 0 or jobs < -1:
        raise InputError(f"--jobs: expected a positive number of workers or -1 (one per CPU), found {jobs!r}")
    return int(jobs)


# ----------------------------------------------------------------------------- the cache


class _Store:
    """Results per (configuration, seed, metric) for one store key, in atomically written batches."""

    def __init__(self, directory: Path, key: str, manifest: dict):
        self.directory = directory
        self.key = key
        directory.mkdir(parents=True, exist_ok=True)
        manifest_path = directory / "store.json"
        if not manifest_path.exists():
            _write_atomic_bytes(manifest_path, json.dumps({"key": key, **manifest}, indent=1).encode("utf-8"))
        self._clean_temporaries()

    def _clean_temporaries(self) -> None:
        cutoff = time.time() - 3600
        for path in self.directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()

    def load(self, n_items: int) -> tuple[dict, list[Path], list[str]]:
        """Every stored result, the files read, and the problems met (unreadable or foreign files are skipped)."""
        import pyarrow.parquet as pq

        results: dict = {}
        files, problems = [], []
        for path in sorted(self.directory.glob("results-*.parquet")):
            try:
                table = pq.read_table(path)
                metadata = table.schema.metadata or {}
                if metadata.get(b"expert.store") != self.key.encode() or table.num_rows == 0:
                    raise ValueError("not a result file of this store")
                scores = table.column("scores").combine_chunks().flatten().to_numpy(zero_copy_only=False)
                scores = scores.reshape(table.num_rows, -1)
                if scores.shape[1] != n_items:
                    raise ValueError(f"{scores.shape[1]} items instead of {n_items}")
            except Exception as error:  # a damaged cache file is skipped, never trusted
                problems.append(f"skipped unreadable cache file {path.name} ({error})")
                continue
            keys = table.column("configuration").to_pylist()
            seeds = table.column("seed").to_pylist()
            metrics = table.column("metric").to_pylist()
            for row, (key, seed, metric) in enumerate(zip(keys, seeds, metrics)):
                results.setdefault((key, int(seed), metric), scores[row].copy())
            files.append(path)
        return results, files, problems

    def write(self, results: list[tuple[str, int, str, np.ndarray]]) -> Path | None:
        """One atomic batch file of ``(key, seed, metric, scores)`` rows."""
        if not results:
            return None
        import pyarrow as pa
        import pyarrow.parquet as pq

        n_items = len(results[0][3])
        flat = np.concatenate([r[3] for r in results]).astype(np.float64)
        offsets = np.arange(0, len(flat) + 1, n_items, dtype=np.int32)
        table = pa.table({
            "configuration": pa.array([r[0] for r in results], pa.string()),
            "seed": pa.array([int(r[1]) for r in results], pa.int64()),
            "metric": pa.array([r[2] for r in results], pa.string()),
            "scores": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat)),
        }).replace_schema_metadata({"expert.store": self.key})
        path = self.directory / f"results-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:6]}.parquet"
        _write_atomic(path, lambda target: pq.write_table(table, target))
        return path

    def summary(self, new: dict) -> dict:
        """The corpus summary kept in ``store.json``: updated with ``new`` (per-seed counts merge)."""
        path = self.directory / "store.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {"key": self.key}
        summary = dict(manifest.get("summary", {}))
        if new:
            seeds = dict(summary.get("seed_training_tokens", {}))
            seeds.update(new.get("seed_training_tokens", {}))
            summary.update(new)
            summary["seed_training_tokens"] = dict(sorted(seeds.items(), key=lambda item: int(item[0])))
            manifest["summary"] = summary
            _write_atomic_bytes(path, json.dumps(manifest, indent=1).encode("utf-8"))
        return summary

    def consolidate(self, results: dict, files: list[Path]) -> None:
        """Replace many batch files by one (written first, so a crash only leaves duplicates)."""
        if len(files) <= 1:
            return
        rows = [(key, seed, metric, values) for (key, seed, metric), values in sorted(results.items())]
        self.write(rows)
        for path in files:
            with contextlib.suppress(OSError):
                path.unlink()


def _write_atomic(path: Path, writer: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, flush it to disk, then rename over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        writer(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    _write_atomic(path, lambda target: target.write_bytes(data))


def _cache_directory(case_dir: Path, cache_dir: Path | None) -> Path:
    directory = Path(cache_dir) if cache_dir is not None else Path(case_dir).resolve() / CACHE_DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        with contextlib.suppress(OSError):
            _write_atomic_bytes(ignore, b"# created by expert: cached proxy experiments\n*\n")
    return directory


def _read_table(path: Path, key: str) -> tuple[pd.DataFrame, dict] | None:
    """The cached run table at ``path`` and its summary, if it is intact and carries ``key``."""
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        metadata = table.schema.metadata or {}
        if metadata.get(b"expert.experiment") != key.encode():
            return None
        summary = json.loads(metadata.get(b"expert.experiment.summary", b"{}"))
        frame = table.to_pandas()
    except Exception:  # a damaged cache file is recomputed, never trusted
        return None
    if list(frame.columns) != RUN_COLUMNS:
        return None
    return frame, summary


def _write_table(path: Path, frame: pd.DataFrame, key: str, summary: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[b"expert.experiment"] = key.encode()
    metadata[b"expert.experiment.summary"] = json.dumps(summary, sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    _write_atomic(path, lambda target: pq.write_table(table, target))


def cached_run_table(case_dir: Path, works: pd.DataFrame, groupings: dict, spec: ExperimentSpec, *, jobs: int = 1,
                     backend: str = "loky", progress: Progress | None = None, cache_dir: Path | None = None,
                     refresh: bool = False) -> ExperimentResult:
    """The run table of the experiment, from the cache when possible (see the module docstring).

    Parameters
    ----------
    case_dir, works, groupings, spec, jobs, backend, progress
        As for :func:`run_experiment`.
    cache_dir : Path, optional
        Default ``<case_dir>/.expert-cache``.
    refresh : bool
        Ignore (and overwrite) the cached run table; stored per-configuration results
        are still reused, since their key covers everything they depend on.

    Returns
    -------
    ExperimentResult
        ``path`` is the Parquet run table, ready for :func:`expert.evidence.read_runs`.

    Notes
    -----
    Results are written in atomic batches (every few seconds) while the experiment
    runs, so an interrupted run (Ctrl-C, a killed worker) resumes without recomputing
    the finished configurations, and a crash never leaves a partial file behind.
    """
    jobs = _jobs_iv(jobs)
    _backend_iv(backend, jobs)
    say = progress or (lambda message: None)
    start = time.perf_counter()
    case_dir = Path(case_dir).resolve()
    inputs = _resolve_inputs(case_dir, works, groupings, spec)
    files_read = tuple([("training text", path, digest) for path, digest in zip(inputs.work_files, inputs.work_hashes)]
                       + [("held-out text", path, digest) for path, digest in zip(inputs.bench_files, inputs.bench_hashes)])
    directory = _cache_directory(case_dir, cache_dir)
    table_path = directory / f"experiment-{inputs.table_key[:16]}.parquet"
    n_pairs = len(inputs.configurations) * len(spec.seeds)
    if not refresh:
        cached = _read_table(table_path, inputs.table_key)
        if cached is not None:
            frame, summary = cached
            n_items = frame["item"].nunique() if len(frame) else 0
            say(f"cache hit: {_relative(table_path, case_dir)} ({len(inputs.configurations)} configurations x "
                f"{len(spec.seeds)} seeds, {len(frame):,} rows)")
            return ExperimentResult(frame, table_path, inputs.table_key, True, len(inputs.configurations),
                                    len(spec.seeds), int(n_items), 0, n_pairs, benchmark_names(spec),
                                    {"total": time.perf_counter() - start}, summary, files_read)

    item_ids = _item_ids(inputs, spec)
    store = _Store(directory / f"experiment-{inputs.store_key[:16]}", inputs.store_key,
                   {"format": CACHE_FORMAT, "items": list(item_ids), "benchmark_texts": list(inputs.bench_labels),
                    "model": spec.model.model_dump(mode="json"), "metrics": sorted(spec.metrics),
                    "subsample": spec.subsample, "works": len(inputs.work_ids)})
    results, files, problems = store.load(len(item_ids))
    for problem in problems:
        say(problem)
    metrics = list(spec.metrics)
    missing = [(c, seed) for c in inputs.configurations for seed in spec.seeds
               if any((c.key, seed, metric) not in results for metric in metrics)]
    n_reused = n_pairs - len(missing)
    if n_reused:
        say(f"reusing {n_reused:,} of {n_pairs:,} configuration x seed pairs from the cache")

    buffer: list = []
    last_flush = [time.perf_counter()]

    def flush() -> None:
        if buffer:
            path = store.write(buffer)
            if path is not None:
                files.append(path)
            buffer.clear()
        last_flush[0] = time.perf_counter()

    def keep(chunk: list) -> None:
        for key, seed, scores in chunk:
            for metric, values in scores.items():
                results[(key, seed, metric)] = values
                buffer.append((key, seed, metric, values))
        if time.perf_counter() - last_flush[0] >= FLUSH_SECONDS:
            flush()

    seconds: dict = {}
    summary: dict = {}
    try:
        seconds, summary = _compute(inputs, spec, missing, jobs=jobs, backend=backend, say=say, on_results=keep)
    finally:
        flush()  # also on Ctrl-C or a failed worker: what is finished is kept
    summary = store.summary(summary)
    if "seed_training_tokens" in summary:
        summary["seed_training_tokens"] = {str(seed): summary["seed_training_tokens"][str(seed)] for seed in spec.seeds
                                           if str(seed) in summary["seed_training_tokens"]}
    store.consolidate(results, files)
    frame = _assemble(inputs, spec, results, item_ids)
    _write_table(table_path, frame, inputs.table_key, summary)
    seconds = dict(seconds)
    seconds["total"] = time.perf_counter() - start
    say(f"wrote {_relative(table_path, case_dir)}: {len(frame):,} rows "
        f"({len(missing):,} pairs computed, {n_reused:,} reused, {seconds['total']:.1f} s)")
    return ExperimentResult(frame, table_path, inputs.table_key, False, len(inputs.configurations), len(spec.seeds),
                            len(item_ids), len(missing), n_reused, benchmark_names(spec), seconds, summary, files_read)
