"""The run table: ablation evidence in long format, checked and arranged as arrays.

:func:`read_runs` reads the CSV or Parquet file a case names (DESIGN.md "Run
table"), resolves every ``removed`` cell to the set of works left out of
training (a *configuration*), checks that the evidence is consistent (one
seed per run, no duplicate rows, every configuration scored on every
benchmark and on the same items) and returns a :class:`RunTable` whose scores
are dense arrays ``(configurations, seeds, items)`` per benchmark, ready for
the crossed bootstrap.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .case import Case
from .errors import EvidenceError

__all__ = ["Configuration", "RunTable", "read_runs", "REQUIRED_COLUMNS"]

REQUIRED_COLUMNS = ("run", "seed", "removed", "benchmark", "score")
OPTIONAL_COLUMNS = ("item", "cluster")
MAX_LISTED = 20  # problems of one kind listed before "... and N more"


@dataclass(frozen=True)
class Configuration:
    """One training configuration: the set of works left out.

    Attributes
    ----------
    index : int
        Position in :attr:`RunTable.configurations`.
    removed : frozenset of int
        Indices (into the case's works) of the works left out of training.
    label : str
        The ``removed`` cell as first spelled in the run table (``""`` for the full model).
    runs : tuple of str
        The run ids trained in this configuration.
    seeds : tuple of str
        Their seeds, in the same order as :attr:`RunTable.seeds` lists them.
    """

    index: int
    removed: frozenset
    label: str
    runs: tuple[str, ...]
    seeds: tuple[str, ...]

    @property
    def is_full(self) -> bool:
        """True for the model trained on every work."""
        return not self.removed

    def describe(self) -> str:
        """A short human description."""
        return "full model (nothing removed)" if self.is_full else f"without {self.label}"


@dataclass(frozen=True)
class RunTable:
    """Ablation evidence arranged for analysis.

    Attributes
    ----------
    source : Path
        The run-table file.
    configurations : tuple of Configuration
        Sorted: the full model first, then by number of works removed, then by works.
    seeds : tuple of str
        Every seed label, sorted.
    seed_mask : ndarray of bool, shape (n_configurations, n_seeds)
        Which seeds each configuration was trained with.
    benchmarks : tuple of str
        Benchmark names, sorted.
    items : tuple of tuple of str
        Item ids of each benchmark (``("(whole benchmark)",)`` when the table has no items).
    scores : tuple of ndarray
        Per benchmark, shape (n_configurations, n_seeds, n_items); NaN where a seed was not run.
    matched : bool
        True when every configuration was trained with the same seeds (matched seeds).
    has_items : bool
        True when scores are per benchmark item (item-level pairing).
    n_rows : int
        Rows read.
    unused_columns : tuple of str
        Columns present in the file and not used by the analysis.
    clusters : tuple of (ndarray of int or None)
        Per benchmark, the cluster of each item (items sharing a passage) when the table has a
        ``cluster`` column; clusters, not items, are then resampled (METHODS B1-B2).
    """

    source: Path
    configurations: tuple[Configuration, ...]
    seeds: tuple[str, ...]
    seed_mask: np.ndarray = field(repr=False)
    benchmarks: tuple[str, ...]
    items: tuple[tuple[str, ...], ...] = field(repr=False)
    scores: tuple[np.ndarray, ...] = field(repr=False)
    matched: bool
    has_items: bool
    n_rows: int
    unused_columns: tuple[str, ...] = ()
    clusters: tuple = ()

    @property
    def has_clusters(self) -> bool:
        return any(c is not None for c in self.clusters)

    @property
    def n_configurations(self) -> int:
        return len(self.configurations)

    def find(self, removed: frozenset) -> int | None:
        """Index of the configuration that removed exactly ``removed``, or None."""
        return self._lookup.get(frozenset(removed))

    @property
    def _lookup(self) -> dict:
        cached = self.__dict__.get("_lookup_cache")
        if cached is None:
            cached = {configuration.removed: configuration.index for configuration in self.configurations}
            object.__setattr__(self, "_lookup_cache", cached)
        return cached

    @property
    def full(self) -> int | None:
        """Index of the full model, or None when the table has none."""
        return self.find(frozenset())

    @property
    def seeds_per_configuration(self) -> np.ndarray:
        return self.seed_mask.sum(axis=1)


def read_runs(case: Case, path: Path | None = None, extra: pd.DataFrame | None = None,
              extra_name: str = "experiment") -> RunTable:
    """Read and check the run table that ``case`` names.

    Parameters
    ----------
    case : Case
        The validated case; its groupings resolve the ``removed`` keys.
    path : Path, optional
        Read this file instead of ``case.evidence.runs``.
    extra : pandas.DataFrame, optional
        More runs to pool with the file's (e.g. a proxy experiment's table); rows of
        ``extra`` are named ``<extra_name> row N`` in messages, and their ``run`` ids are
        prefixed with ``extra_name:`` so the two sources stay apart.

    Returns
    -------
    RunTable

    Raises
    ------
    EvidenceError
        Listing every problem, each naming the file, the row, the column, what
        was expected and what was found.
    """
    path = Path(path) if path is not None else case.resolve(case.evidence.runs)
    name = path.name
    frame, row_label = _read_frame(path)
    if extra is not None:
        n_file = len(frame)
        extra = extra.astype({column: object for column in extra.columns if column != "score"}).copy()
        extra["run"] = [f"{extra_name}:{run}" for run in extra["run"]]
        frame = pd.concat([frame.astype(object), extra], ignore_index=True)
        file_label = row_label
        row_label = lambda row: file_label(row) if row < n_file else f"{extra_name} row {int(row) - n_file + 1}"  # noqa: E731
    problems: list[str] = []
    # a Parquet file has no lines: its header and rows are named without one
    header_at, first_row_at = ("", "") if path.suffix.lower() in (".parquet", ".pq") else (":1", ":2")

    columns = [str(column) for column in frame.columns]
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        listed = ", ".join(columns) if columns else "none"
        hints = []
        for column in missing:
            close = difflib.get_close_matches(column, columns, n=1)
            if close:
                hints.append(f"{close[0]!r} for {column!r}?")
        hint = f"; did you mean {' '.join(hints)}" if hints else ""
        raise EvidenceError(f"{name}{header_at}: (header): expected columns {', '.join(REQUIRED_COLUMNS)} (and optionally item), "
                            f"found {listed}; missing {', '.join(missing)}{hint}")
    if len(frame) == 0:
        raise EvidenceError(f"{name}{first_row_at}: (rows): expected at least one run row, found none")
    unused = tuple(column for column in columns if column not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    has_items = "item" in columns
    has_clusters = "cluster" in columns
    if has_clusters and not has_items:
        raise EvidenceError(f"{name}{header_at}: cluster: expected an `item` column beside `cluster` (clusters group "
                            f"benchmark items), found none")
    n_rows = len(frame)

    def listed(rows: np.ndarray, column: str, expected: str, found) -> None:
        for count, row in enumerate(rows):
            if count == MAX_LISTED:
                problems.append(f"{name}: {column}: ... and {len(rows) - MAX_LISTED} more rows with the same problem")
                break
            problems.append(f"{name}:{row_label(row)}: {column}: expected {expected}, found {found(row)}")

    text = {}
    for column in ("run", "seed", "removed", "benchmark") + (("item",) if has_items else ()) + (
            ("cluster",) if has_clusters else ()):
        values = _as_text(frame[column])
        text[column] = values
        if column != "removed":
            empty = np.flatnonzero(values == "")
            expected = {"benchmark": "a benchmark name", "item": "an item id"}.get(column, f"a {column} id")
            listed(empty, column, expected, lambda row: "an empty cell")

    score = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=np.float64)
    raw_score = frame["score"]
    bad = np.flatnonzero(~np.isfinite(score))
    listed(bad, "score", "a finite number", lambda row: _found(raw_score.iloc[row]))

    # removed -> configuration (resolved work sets); each distinct spelling is resolved once
    removed_codes, removed_uniques = pd.factorize(text["removed"], sort=False)
    resolved: list[frozenset | None] = []
    for code, spelling in enumerate(removed_uniques):
        work_set, errors = _resolve_removed(str(spelling), case)
        resolved.append(work_set)
        if errors:
            rows = np.flatnonzero(removed_codes == code)
            first = row_label(rows[0])
            more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
            for error in errors:
                problems.append(f"{name}:{first}: removed: {error}{more}")
    if problems:
        raise EvidenceError(problems)

    # one seed and one configuration per run
    run_codes, run_ids = pd.factorize(text["run"], sort=False)
    seed_codes, seed_ids = pd.factorize(text["seed"], sort=False)
    # integer id of each spelling's configuration (an object array of tuples would become 2-D when the
    # tuples have equal lengths, and comparing it with a tuple broadcasts instead of comparing keys)
    removed_keys = [_config_key(work_set) for work_set in resolved]
    key_ids: dict[tuple, int] = {}
    config_of_removed = np.array([key_ids.setdefault(key, len(key_ids)) for key in removed_keys], dtype=np.int64)
    for column, codes, labels in (("seed", seed_codes, seed_ids), ("removed", removed_codes, removed_uniques)):
        pairs = _distinct_pairs(run_codes, codes)
        if column == "removed":
            pairs["value"] = config_of_removed[pairs["value"].to_numpy()]
            pairs = pairs.drop_duplicates()
        conflicted = pairs["run"][pairs["run"].duplicated()].unique()
        for count, run_code in enumerate(conflicted):
            if count == MAX_LISTED:
                problems.append(f"{name}: {column}: ... and {len(conflicted) - MAX_LISTED} more runs with the same problem")
                break
            rows = np.flatnonzero(run_codes == run_code)
            first_value = codes[rows[0]]
            if column == "removed":
                other = rows[np.flatnonzero(config_of_removed[codes[rows]] != config_of_removed[first_value])[0]]
            else:
                other = rows[np.flatnonzero(codes[rows] != first_value)[0]]
            problems.append(
                f"{name}:{row_label(other)}: {column}: expected one {column} value per run (run {run_ids[run_code]!r} "
                f"has {labels[first_value]!r} at row {row_label(rows[0])}), found {labels[codes[other]]!r}"
            )
    if problems:
        raise EvidenceError(problems)

    reserved = np.flatnonzero(text["benchmark"] == "all")
    listed(reserved, "benchmark", "a benchmark name other than 'all' (reserved for the macro average)",
           lambda row: "'all'")
    if problems:
        raise EvidenceError(problems)
    bench_codes, bench_names = pd.factorize(text["benchmark"], sort=True)
    item_text = text["item"] if has_items else np.full(n_rows, "(whole benchmark)", dtype=object)
    key = pd.DataFrame({"run": run_codes, "benchmark": bench_codes, "item": pd.factorize(item_text)[0]})
    duplicated = np.flatnonzero(_duplicated(key))
    if len(duplicated):
        first_of = key.reset_index().groupby(["run", "benchmark", "item"], sort=False)["index"].transform("first").to_numpy()
        what = "(run, benchmark, item)" if has_items else "(run, benchmark)"
        listed(duplicated, what, f"one row per {what}",
               lambda row: f"a duplicate of row {row_label(first_of[row])} (run {run_ids[run_codes[row]]!r})")
        raise EvidenceError(problems)

    # configurations, sorted canonically
    run_first_row = pd.Series(np.arange(n_rows)).groupby(run_codes).first().to_numpy()
    run_config_key = [removed_keys[removed_codes[row]] for row in run_first_row]
    run_removed = [resolved[removed_codes[row]] for row in run_first_row]
    run_seed = seed_codes[run_first_row]
    distinct = {}
    for run_code, config_key in enumerate(run_config_key):
        distinct.setdefault(config_key, (run_removed[run_code], str(removed_uniques[removed_codes[run_first_row[run_code]]])))
    ordered = sorted(distinct, key=lambda k: (len(k), k))
    config_index = {config_key: index for index, config_key in enumerate(ordered)}
    seed_order = sorted(range(len(seed_ids)), key=lambda code: _seed_sort_key(str(seed_ids[code])))
    seed_position = np.empty(len(seed_ids), dtype=np.int64)
    seed_position[seed_order] = np.arange(len(seed_ids))
    seeds = tuple(str(seed_ids[code]) for code in seed_order)

    run_config = np.array([config_index[k] for k in run_config_key], dtype=np.int64)
    run_seed_pos = seed_position[run_seed]
    n_configs, n_seeds = len(ordered), len(seeds)
    owner = np.full((n_configs, n_seeds), -1, dtype=np.int64)
    for run_code in range(len(run_ids)):
        c, s = run_config[run_code], run_seed_pos[run_code]
        if owner[c, s] >= 0:
            other = owner[c, s]
            label = distinct[ordered[c]][1] or "(full model)"
            problems.append(
                f"{name}:{row_label(run_first_row[run_code])}: run: expected one run per configuration and seed, found runs "
                f"{run_ids[other]!r} and {run_ids[run_code]!r} both trained without {label!r} with seed {seeds[s]!r}"
            )
        else:
            owner[c, s] = run_code
    if problems:
        raise EvidenceError(problems)
    seed_mask = owner >= 0

    row_config = run_config[run_codes]
    row_seed = run_seed_pos[run_codes]
    scores: list[np.ndarray] = []
    items: list[tuple[str, ...]] = []
    clusters: list[np.ndarray | None] = []
    for b, benchmark in enumerate(bench_names):
        in_bench = bench_codes == b
        bench_runs = np.unique(run_codes[in_bench])
        missing_runs = np.setdiff1d(np.arange(len(run_ids)), bench_runs)
        for count, run_code in enumerate(missing_runs):
            if count == MAX_LISTED:
                problems.append(f"{name}: benchmark: ... and {len(missing_runs) - MAX_LISTED} more runs without {benchmark!r}")
                break
            label = distinct[ordered[run_config[run_code]]][1] or "(full model)"
            problems.append(f"{name}:{row_label(run_first_row[run_code])}: benchmark: expected every run scored on "
                            f"benchmark {benchmark!r}, found run {run_ids[run_code]!r} (configuration {label!r}) without it")
        item_codes, item_ids = pd.factorize(item_text[in_bench], sort=False)
        item_order = np.argsort(np.asarray(item_ids, dtype=str), kind="stable")
        item_position = np.empty(len(item_ids), dtype=np.int64)
        item_position[item_order] = np.arange(len(item_ids))
        n_items = len(item_ids)
        counts = np.bincount(run_codes[in_bench], minlength=len(run_ids))
        short = [run_code for run_code in bench_runs if counts[run_code] < n_items]
        if short:
            have = np.zeros((len(run_ids), n_items), dtype=bool)
            have[run_codes[in_bench], item_position[item_codes]] = True
            for count, run_code in enumerate(short):
                if count == MAX_LISTED:
                    problems.append(f"{name}: item: ... and {len(short) - MAX_LISTED} more runs missing items of {benchmark!r}")
                    break
                lacking = np.flatnonzero(~have[run_code])
                first_missing = str(np.asarray(item_ids, dtype=str)[item_order][lacking[0]])
                label = distinct[ordered[run_config[run_code]]][1] or "(full model)"
                problems.append(
                    f"{name}:{row_label(run_first_row[run_code])}: item: expected the same items of benchmark {benchmark!r} "
                    f"in every configuration (pairing), found run {run_ids[run_code]!r} (configuration {label!r}) without "
                    f"item {first_missing!r} and {len(lacking) - 1} other items of {n_items}"
                )
        if problems:
            continue
        array = np.full((n_configs, n_seeds, n_items), np.nan)
        array[row_config[in_bench], row_seed[in_bench], item_position[item_codes]] = score[in_bench]
        scores.append(array)
        items.append(tuple(np.asarray(item_ids, dtype=str)[item_order].tolist()))
        if has_clusters:
            rows_here = np.flatnonzero(in_bench)
            pairs = pd.DataFrame({"item": item_position[item_codes], "cluster": text["cluster"][in_bench],
                                  "row": rows_here}).drop_duplicates(["item", "cluster"])
            conflicted = pairs[pairs["item"].duplicated(keep=False)].drop_duplicates("item", keep="last")
            for count, (_, row) in enumerate(conflicted.iterrows()):
                if count == MAX_LISTED:
                    problems.append(f"{name}: cluster: ... and {len(conflicted) - MAX_LISTED} more items in two clusters")
                    break
                item = str(np.asarray(item_ids, dtype=str)[item_order][int(row["item"])])
                problems.append(f"{name}:{row_label(int(row['row']))}: cluster: expected one cluster per item, found "
                                f"item {item!r} of benchmark {benchmark!r} in clusters {row['cluster']!r} and another")
            first = pairs.drop_duplicates("item").sort_values("item")
            codes, _ = pd.factorize(first["cluster"].to_numpy(), sort=True)
            clusters.append(codes.astype(np.int64))
        else:
            clusters.append(None)
    if problems:
        raise EvidenceError(problems)

    configurations = []
    for index, config_key in enumerate(ordered):
        removed, label = distinct[config_key]
        runs = tuple(str(run_ids[owner[index, s]]) for s in range(n_seeds) if owner[index, s] >= 0)
        config_seeds = tuple(seeds[s] for s in range(n_seeds) if owner[index, s] >= 0)
        configurations.append(Configuration(index, removed, label, runs, config_seeds))
    matched = bool(seed_mask.all())
    return RunTable(
        source=path,
        configurations=tuple(configurations),
        seeds=seeds,
        seed_mask=seed_mask,
        benchmarks=tuple(str(b) for b in bench_names),
        items=tuple(items),
        scores=tuple(scores),
        matched=matched,
        has_items=has_items,
        n_rows=n_rows,
        unused_columns=unused,
        clusters=tuple(clusters),
    )


# ----------------------------------------------------------------------------- helpers


def _read_frame(path: Path):
    """The raw table and a function from 0-based row position to the label used in messages."""
    name = path.name
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            try:
                frame = pq.read_table(path).to_pandas()
            except Exception as error:  # pyarrow raises several types for a corrupt file
                raise EvidenceError(f"{name}: (file): expected a Parquet file, found unreadable data ({error})") from None
            return frame, lambda row: f"row {int(row) + 1}"
        raw = path.read_bytes()
        if suffix == ".gz":
            import gzip

            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as error:
                raise EvidenceError(f"{name}: (file): expected gzip-compressed CSV, found {error}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise EvidenceError(f"{name}:{line}: (file): expected UTF-8 text, found byte 0x{raw[error.start]:02x}") from None
        if not text.strip():
            raise EvidenceError(f"{name}:1: (file): expected a header row with columns {', '.join(REQUIRED_COLUMNS)}, found an empty file")
        import io

        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, engine="c")
        except pd.errors.ParserError as error:
            raise EvidenceError(f"{name}:{_parser_error_line(error)}: (file): expected a comma-separated table with the same number of fields on every "
                                f"row, found: {str(error).strip()}") from None
        if len(frame.columns) == 1 and len(REQUIRED_COLUMNS) > 1:
            header = text.splitlines()[0]
            for delimiter in (";", "\t", "|"):
                if delimiter in header:
                    shown = {";": "';'", "\t": "tab", "|": "'|'"}[delimiter]
                    raise EvidenceError(f"{name}:1: (header): expected comma-separated columns, found {shown}-separated "
                                        f"columns {header!r}")
        return frame, lambda row: str(int(row) + 2)
    except OSError as error:
        raise EvidenceError(f"{name}: (file): expected a readable run table, found {error.strerror}") from None


def _combined_key(frame: pd.DataFrame) -> np.ndarray | None:
    """One int64 per row that is equal exactly when the rows' non-negative integer codes are, or None on overflow."""
    widths = [int(frame[column].max()) + 1 if len(frame) else 1 for column in frame.columns]
    if float(np.prod([float(w) for w in widths])) >= 2.0**62:
        return None
    key = np.zeros(len(frame), dtype=np.int64)
    for column, width in zip(frame.columns, widths):
        key = key * width + frame[column].to_numpy(dtype=np.int64)
    return key


def _duplicated(frame: pd.DataFrame) -> np.ndarray:
    """``frame.duplicated(keep="first")`` for integer-code columns, through one int64 key when it fits (faster)."""
    key = _combined_key(frame)
    if key is None:
        return frame.duplicated(keep="first").to_numpy()
    return pd.Series(key).duplicated(keep="first").to_numpy()


def _distinct_pairs(run_codes: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
    """The distinct (run, value) code pairs in order of first appearance (``drop_duplicates``, faster)."""
    frame = pd.DataFrame({"run": run_codes, "value": codes})
    keep = ~_duplicated(frame)
    return frame[keep].reset_index(drop=True)


def _parser_error_line(error: Exception) -> int:
    """The 1-based line a pandas ParserError points at ("line 9" is 1-based, "row 8" counts from the header as 0)."""
    match = re.search(r"\b(line|row) (\d+)", str(error))
    if match is None:
        return 1
    return int(match.group(2)) + (1 if match.group(1) == "row" else 0)


def _as_text(column: pd.Series) -> np.ndarray:
    """The column as stripped text ("" for a missing cell), as an object array.

    Each distinct value is converted and stripped once and the rows share those string
    objects: at 15 million rows, converting every cell made 15 million Python strings per
    column (tens of seconds and several GB; bench/bench_scale.py).
    """
    try:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
    except TypeError:  # unhashable cells (a Parquet list column): convert each cell
        values = column.astype(object).where(column.notna(), "")
        return np.array([str(value).strip() for value in values], dtype=object)
    labels = np.array([str(value).strip() for value in uniques] + [""], dtype=object)
    return labels[codes]  # code -1 (a missing cell) takes the trailing ""


def _found(value) -> str:
    if value is None:
        return "an empty cell"
    if isinstance(value, float) and np.isnan(value):
        return "NaN (or a missing value)"
    text = str(value).strip()
    if text == "":
        return "an empty cell"
    return repr(text)


def _seed_sort_key(label: str):
    try:
        return (0, int(label), label)
    except ValueError:
        return (1, 0, label)


def _config_key(work_set: frozenset | None) -> tuple:
    return tuple(sorted(work_set)) if work_set is not None else ()


def _resolve_removed(spelling: str, case: Case) -> tuple[frozenset | None, list[str]]:
    """The works a ``removed`` cell leaves out, or the problems with it."""
    spelling = spelling.strip()
    if spelling == "":
        return frozenset(), []
    removed: set[int] = set()
    errors = []
    names = [grouping.name for grouping in case.groupings]
    for key in spelling.split(";"):
        key = key.strip()
        if not key:
            continue
        if ":" not in key:
            errors.append(f"expected keys 'grouping:group' separated by ';', found {key!r}")
            continue
        grouping_name, group = (part.strip() for part in key.split(":", 1))
        if grouping_name not in names:
            hint = difflib.get_close_matches(grouping_name, names, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            errors.append(f"expected a grouping of the case ({', '.join(names)}), found {grouping_name!r} in {key!r}{suggestion}")
            continue
        grouping = case.grouping(grouping_name)
        if group == "*":
            removed.update(range(len(grouping.membership)))
            continue
        if group not in grouping.groups:
            hint = difflib.get_close_matches(group, grouping.groups, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            errors.append(f"expected a group of grouping {grouping_name!r}, found {group!r} in {key!r}{suggestion}")
            continue
        removed.update(grouping.members(group).tolist())
    if errors:
        return None, errors
    return frozenset(removed), []
