"""A corpus of broken inputs, each run through the real command line.

Every entry starts from the valid small case of ``conftest.py`` and breaks one thing:
the case file (syntax, tabs, duplicate keys, types, unknown keys, files that are
missing, empty or folders, groupings that do not partition, bad numbers, encodings,
alias bombs, object tags, claimants and scenarios) or the run table (delimiters,
encodings, ragged rows, missing columns, bad scores, unknown keys in ``removed``,
duplicates, seeds, pairing, benchmarks, empty tables, broken Parquet and gzip).

Each must give exit code 2, a message naming the file, the line or row and the field,
no traceback, and no output written. Most run in-process through click's
``CliRunner``; a sample runs the installed ``expert`` script in a subprocess to prove
that no traceback reaches the terminal.
"""

from __future__ import annotations

import gzip
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hardening_case import RUN_COLUMNS, rows_to_csv, run_rows, write_small_case
from expert.cli import cli

# ----------------------------------------------------------------------------- mutation helpers


@dataclass(frozen=True)
class Broken:
    """One broken input: an id, how to break the valid case, and what the message must contain."""

    id: str
    apply: Callable[[Path], None]
    expect: tuple[str, ...]
    args: tuple[str, ...] = ()  # extra CLI arguments


def case_text(folder: Path) -> str:
    return (folder / "case.yaml").read_text(encoding="utf-8")


def yaml_replace(old: str, new: str):
    def apply(folder: Path) -> None:
        text = case_text(folder)
        assert old in text, f"mutation target {old!r} not in case.yaml"
        (folder / "case.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")

    return apply


def yaml_append(extra: str):
    def apply(folder: Path) -> None:
        (folder / "case.yaml").write_text(case_text(folder) + extra, encoding="utf-8")

    return apply


def yaml_bytes(data: bytes):
    def apply(folder: Path) -> None:
        (folder / "case.yaml").write_bytes(data)

    return apply


def file_bytes(name: str, data: bytes):
    def apply(folder: Path) -> None:
        (folder / name).write_bytes(data)

    return apply


def make_folder(name: str):
    def apply(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return apply


def remove_file(name: str):
    def apply(folder: Path) -> None:
        (folder / name).unlink()

    return apply


def chain(*steps):
    def apply(folder: Path) -> None:
        for step in steps:
            step(folder)

    return apply


def runs_rows(edit, header=RUN_COLUMNS, delimiter=","):
    """Rewrite runs.csv from ``edit(rows)`` (a list of lists of text cells, without the header)."""
    def apply(folder: Path) -> None:
        rows = [list(row) for row in run_rows()]
        rows = edit(rows)
        (folder / "runs.csv").write_text(rows_to_csv(rows, header, delimiter), encoding="utf-8")

    return apply


def runs_text(edit):
    """Rewrite runs.csv from ``edit(text) -> str or bytes``."""
    def apply(folder: Path) -> None:
        result = edit((folder / "runs.csv").read_text(encoding="utf-8"))
        if isinstance(result, str):
            result = result.encode("utf-8")
        (folder / "runs.csv").write_bytes(result)

    return apply


def set_cell(row: int, column: str, value: str):
    def edit(rows):
        rows[row][RUN_COLUMNS.index(column)] = value
        return rows

    return edit


def set_cells(predicate, column: str, value: str):
    def edit(rows):
        for row in rows:
            if predicate(row):
                row[RUN_COLUMNS.index(column)] = value
        return rows

    return edit


def row_index(config: int, seed: int, bench: int, item: int) -> int:
    """0-based row of (configuration, seed, benchmark, item) in :func:`run_rows` (line = row + 2)."""
    return ((config * 3 + seed) * 2 + bench) * 20 + item


def use_runs(name: str, data: bytes | Callable[[Path], bytes]):
    """Point evidence.runs at ``name`` holding ``data``."""
    def apply(folder: Path) -> None:
        payload = data(folder) if callable(data) else data
        (folder / name).write_bytes(payload)
        text = case_text(folder).replace("runs: runs.csv", f"runs: {name}", 1)
        (folder / "case.yaml").write_text(text, encoding="utf-8")

    return apply


def parquet_of(edit=None, schema=None):
    """Parquet bytes of the run table, after ``edit(dict of columns)``."""
    def make(folder: Path) -> bytes:
        rows = run_rows()
        columns = {name: [row[i] for row in rows] for i, name in enumerate(RUN_COLUMNS)}
        columns["seed"] = [int(value) for value in columns["seed"]]
        columns["score"] = [float(value) for value in columns["score"]]
        if edit is not None:
            columns = edit(columns)
        table = pa.table(columns)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return sink.getvalue().to_pybytes()

    return make


def truncated(make, keep: float):
    def cut(folder: Path) -> bytes:
        data = make(folder)
        return data[: int(len(data) * keep)]

    return cut


def gz_of(text_bytes: bytes) -> bytes:
    return gzip.compress(text_bytes, mtime=0)


VALID_RUNS_BYTES = rows_to_csv(run_rows()).encode("utf-8")

CLAIMANTS = """\
claimants:
  rights:
    author: {by: publisher, share: 0.5}
    publisher: {by: publisher, share: 0.5}
  collectives:
    big two: {publisher: [P1, P2]}
scenarios:
  s1:
    grouping: publisher
    method: loo
    pool: {amount: 1000000}
    split: tokens
"""
# lines of CLAIMANTS once appended to the 15-line case file
CL = {"claimants": 16, "rights": 17, "author": 18, "publisher": 19, "collectives": 20, "big two": 21,
      "scenarios": 22, "s1": 23, "grouping": 24, "method": 25, "pool": 26, "split": 27}


def claimants(old: str = "", new: str = ""):
    text = CLAIMANTS.replace(old, new, 1) if old else CLAIMANTS
    assert not old or old in CLAIMANTS
    return yaml_append(text)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))

# ----------------------------------------------------------------------------- the corpus: case file

CASE_FILE = [
    # YAML syntax
    Broken("yaml-unclosed-flow-mapping", yaml_replace("work: {by: id}", "work: {by: id"), ("case.yaml:", "(document)", "syntax error")),
    Broken("yaml-unterminated-quote", yaml_replace("title: Hardening test matter", 'title: "Hardening test matter'), ("case.yaml:", "(document)", "syntax error")),
    Broken("yaml-tab-indent", yaml_replace("  title:", "\ttitle:"), ("case.yaml:2", "(document)", "tabs")),
    Broken("yaml-bad-indent", yaml_replace("  date: 2025-01-31", "    date: 2025-01-31"), ("case.yaml:3", "(document)", "syntax error")),
    Broken("yaml-two-documents", yaml_append("---\nmatter: {}\n"), ("case.yaml:16", "(document)")),
    Broken("yaml-stray-colon", yaml_replace("works: works.csv", "works: works.csv: extra"), ("case.yaml:4", "(document)")),
    # duplicate keys
    Broken("duplicate-key-matter-title", yaml_replace("  date:", "  title: Again\n  date:"), ("case.yaml:3", "matter.title", "first at line 2")),
    Broken("duplicate-key-top-level", yaml_append("evidence:\n  runs: other.csv\n"), ("case.yaml:16", "evidence", "first at line 9")),
    Broken("duplicate-key-grouping", yaml_replace("  sector: {by: sector}", "  sector: {by: sector}\n  work: {by: publisher}"), ("case.yaml:9", "groupings.work", "first at line 6")),
    Broken("duplicate-key-flow-mapping", yaml_replace("interval: percentile,", "interval: percentile, seed: 2,"), ("case.yaml:13", "analysis.bootstrap.seed")),
    # document shape
    Broken("empty-case-file", yaml_bytes(b""), ("case.yaml:1", "(document)", "empty")),
    Broken("comment-only-case-file", yaml_bytes(b"# nothing here\n"), ("case.yaml:1", "(document)")),
    Broken("case-file-is-a-list", yaml_bytes(b"- matter\n- works\n"), ("case.yaml:1", "(document)", "list")),
    Broken("case-file-is-a-scalar", yaml_bytes(b"hello\n"), ("case.yaml:1", "(document)", "str")),
    Broken("matter-is-a-string", yaml_replace("matter:\n  title: Hardening test matter\n  date: 2025-01-31\n", "matter: hello\n"), ("case.yaml:1", "matter")),
    Broken("groupings-is-a-list", yaml_replace("groupings:\n  work: {by: id}\n  publisher: {by: publisher}\n  sector: {by: sector}\n", "groupings: [work, publisher]\n"), ("case.yaml:5", "groupings")),
    Broken("complex-mapping-key", yaml_append("? [a, b]\n: c\n"), ("case.yaml:16", "key")),
    # wrong types and missing values
    Broken("date-not-a-date", yaml_replace("date: 2025-01-31", "date: yesterday"), ("case.yaml:3", "matter.date")),
    Broken("date-out-of-range", yaml_replace("date: 2025-01-31", "date: 2025-02-30"), ("case.yaml:3", "matter.date")),
    Broken("title-is-a-list", yaml_replace("title: Hardening test matter", "title: [a, b]"), ("case.yaml:2", "matter.title")),
    Broken("title-empty", yaml_replace("title: Hardening test matter", 'title: ""'), ("case.yaml:2", "matter.title")),
    Broken("missing-matter", yaml_replace("matter:\n  title: Hardening test matter\n  date: 2025-01-31\n", ""), ("case.yaml:1", "matter", "required")),
    Broken("missing-evidence", yaml_replace("evidence:\n  runs: runs.csv\n", ""), ("case.yaml:1", "evidence", "required")),
    Broken("missing-evidence-runs", yaml_replace("  runs: runs.csv\n", "  simulated: true\n"), ("case.yaml:", "evidence", "expected `runs`")),
    # unknown keys
    Broken("unknown-top-level-key", yaml_append("reprot: {formats: [csv]}\n"), ("case.yaml:16", "reprot", "did you mean 'report'")),
    Broken("unknown-nested-key", yaml_replace("resamples: 50", "resample: 50"), ("case.yaml:13", "analysis.bootstrap.resample", "did you mean 'resamples'")),
    Broken("unknown-grouping-key", yaml_replace("work: {by: id}", "work: {bye: id}"), ("case.yaml:6", "groupings.work.bye")),
    # bad numbers
    Broken("resamples-1e999", yaml_replace("resamples: 50", "resamples: 1e999"), ("case.yaml:13", "analysis.bootstrap.resamples")),
    Broken("confidence-overflow", yaml_replace("confidence: 0.95", "confidence: 1.0e+999"), ("case.yaml:13", "analysis.bootstrap.confidence")),
    Broken("confidence-nan", yaml_replace("confidence: 0.95", "confidence: .nan"), ("case.yaml:13", "analysis.bootstrap.confidence")),
    Broken("confidence-1.5", yaml_replace("confidence: 0.95", "confidence: 1.5"), ("case.yaml:13", "analysis.bootstrap.confidence", "1.5")),
    Broken("confidence-text", yaml_replace("confidence: 0.95", "confidence: high"), ("case.yaml:13", "analysis.bootstrap.confidence", "high")),
    Broken("resamples-negative", yaml_replace("resamples: 50", "resamples: -5"), ("case.yaml:13", "analysis.bootstrap.resamples", "-5")),
    Broken("resamples-fraction", yaml_replace("resamples: 50", "resamples: 50.5"), ("case.yaml:13", "analysis.bootstrap.resamples")),
    Broken("resamples-huge", yaml_replace("resamples: 50", "resamples: 99999999999999999999999"), ("case.yaml:13", "analysis.bootstrap.resamples")),
    Broken("bootstrap-seed-negative", yaml_replace("seed: 1}", "seed: -1}"), ("case.yaml:13", "analysis.bootstrap.seed")),
    Broken("interval-unknown", yaml_replace("interval: percentile", "interval: studentized"), ("case.yaml:13", "analysis.bootstrap.interval", "studentized")),
    Broken("power-zero", yaml_replace("  methods: [loo]\n", "  methods: [loo]\n  power: 0\n"), ("case.yaml:13", "analysis.power")),
    Broken("equivalence-margin-negative", yaml_replace("  methods: [loo]\n", "  methods: [loo]\n  equivalence_margin: -0.01\n"), ("case.yaml:13", "analysis.equivalence_margin")),
    Broken("equivalence-margin-inf", yaml_replace("  methods: [loo]\n", "  methods: [loo]\n  equivalence_margin: .inf\n"), ("case.yaml:13", "analysis.equivalence_margin")),
    # methods
    Broken("method-unknown", yaml_replace("methods: [loo]", "methods: [loo, shapely]"), ("case.yaml:12", "analysis.methods", "shapely")),
    Broken("method-beta-unquoted", yaml_replace("methods: [loo]", "methods: [loo, beta(16,1)]"), ("case.yaml:12", "analysis.methods", "quote it")),
    Broken("method-beta-negative", yaml_replace("methods: [loo]", "methods: [loo, 'beta(-1,2)']"), ("case.yaml:12", "analysis.methods", "beta(-1,2)")),
    Broken("methods-empty", yaml_replace("methods: [loo]", "methods: []"), ("case.yaml:12", "analysis.methods")),
    Broken("sampling-unknown-grouping", yaml_replace("  methods: [loo]\n", "  methods: [loo]\n  sampling: {publsher: {design: msr}}\n"), ("case.yaml:13", "analysis.sampling.publsher", "did you mean 'publisher'")),
    Broken("sampling-unknown-design", yaml_replace("  methods: [loo]\n", "  methods: [loo]\n  sampling: {publisher: {design: lhs}}\n"), ("case.yaml:13", "analysis.sampling.publisher.design", "lhs")),
    Broken("owen-split-unknown-column", yaml_replace("  methods: [loo]\n", "  methods: [loo]\n  owen_split: pages\n"), ("case.yaml:13", "analysis.owen_split", "pages")),
    Broken("owen-split-tokens-not-numeric", chain(yaml_replace("  methods: [loo]\n", "  methods: [loo]\n  owen_split: tokens\n"),
                                                  file_bytes("works.csv", b"id,publisher,sector,tokens\nw01,P1,S1,many\n" + b"".join(
                                                      f"w{i:02d},P{(i - 1) // 3 + 1},S{(i - 1) // 6 + 1},{i}\n".encode() for i in range(2, 13)))),
           ("works.csv:2", "tokens", "many")),
    # report
    Broken("report-format-unknown", yaml_replace("formats: [csv, json]", "formats: [csv, docx]"), ("case.yaml:15", "report.formats", "docx")),
    Broken("report-top-rows-zero", yaml_replace("  formats: [csv, json]\n", "  formats: [csv, json]\n  top_rows: 0\n"), ("case.yaml:16", "report.top_rows")),
    Broken("report-template-dir-missing", yaml_replace("  formats: [csv, json]\n", "  formats: [csv, json]\n  template_dir: firm\n"), ("case.yaml:16", "report.template_dir", "firm")),
    Broken("report-bates-prefix", yaml_replace("  formats: [csv, json]\n", "  formats: [csv, json]\n  bates: {prefix: 'A B/C'}\n"), ("case.yaml:16", "report.bates.prefix")),
    # encodings and hostile YAML
    Broken("case-not-utf8", yaml_bytes(b"matter:\n  title: Caf\xe9\n  date: 2025-01-31\n"), ("case.yaml:2", "UTF-8", "0xe9")),
    Broken("case-utf16", yaml_bytes("matter:\n  title: x\n".encode("utf-16")), ("case.yaml:1", "UTF-8")),
    Broken("case-nul-byte", yaml_replace("title: Hardening", "title: Hard\x00ening"), ("case.yaml:2",)),
    Broken("alias-bomb", yaml_append(BOMB), ("case.yaml:1", "(document)", "nodes")),
    Broken("python-object-apply-tag", yaml_append("evil: !!python/object/apply:os.system ['echo pwned']\n"), ("case.yaml:16", "evil", "tag")),
    Broken("python-name-tag", yaml_replace("title: Hardening test matter", "title: !!python/name:os.system ''"), ("case.yaml:2", "matter.title", "tag")),
    Broken("python-object-new-tag-on-mapping", yaml_replace("  date: 2025-01-31\n", "  date: 2025-01-31\n  expert: !!python/object/new:dict {}\n"), ("case.yaml:4", "matter.expert", "tag")),
    # works table
    Broken("works-file-missing", remove_file("works.csv"), ("case.yaml:4", "works", "no such file")),
    Broken("works-is-a-folder", make_folder("works.csv"), ("case.yaml:4", "works", "folder")),
    Broken("works-empty-file", file_bytes("works.csv", b""), ("works.csv:1", "empty")),
    Broken("works-header-only", file_bytes("works.csv", b"id,publisher,sector,tokens\n"), ("works.csv:2", "works", "none")),
    Broken("works-no-id-column", file_bytes("works.csv", b"work,publisher,sector\nw01,P1,S1\n"), ("works.csv:1", "id")),
    Broken("works-duplicate-id", file_bytes("works.csv", b"id,publisher,sector,tokens\nw01,P1,S1,1\nw01,P1,S1,2\n"), ("works.csv:3", "id", "w01")),
    Broken("works-empty-group-cell", file_bytes("works.csv", b"id,publisher,sector,tokens\nw01,,S1,1\nw02,P1,S1,2\n"), ("works.csv:2", "publisher", "empty")),
    Broken("works-not-utf8", file_bytes("works.csv", b"id,publisher,sector,tokens\nw01,Soci\xe9t\xe9,S1,1\n"), ("works.csv:2", "UTF-8")),
    Broken("works-ragged", file_bytes("works.csv", b"id,publisher,sector,tokens\nw01,P1,S1,1\nw02,P1,S1,2,extra,more\n"), ("works.csv:3",)),
    Broken("works-inline-not-mappings", yaml_replace("works: works.csv", "works: [1, 2]"), ("case.yaml:4", "works")),
    Broken("works-outside-case-folder", yaml_replace("works: works.csv", "works: ../works.csv"), ("case.yaml:4", "works", "inside the case folder")),
    Broken("works-absolute-path", yaml_replace("works: works.csv", "works: /etc/passwd"), ("case.yaml:4", "works", "inside the case folder")),
    # groupings that do not partition
    Broken("grouping-by-unknown-column", yaml_replace("publisher: {by: publisher}", "publisher: {by: publsher}"), ("case.yaml:7", "groupings.publisher.by", "publsher")),
    Broken("grouping-both-by-and-groups", yaml_replace("publisher: {by: publisher}", "publisher: {by: publisher, groups: {a: [w01]}}"), ("case.yaml:7", "groupings.publisher", "both")),
    Broken("grouping-neither-by-nor-groups", yaml_replace("publisher: {by: publisher}", "publisher: {}"), ("case.yaml:7", "groupings.publisher", "neither")),
    Broken("grouping-strays", yaml_replace("  sector: {by: sector}\n", "  sector: {by: sector}\n  guild: {groups: {members: [w01, w02], others: [w03, w04]}}\n"),
           ("case.yaml:9", "groupings.guild.groups", "w05")),
    Broken("grouping-doubles", yaml_replace("  sector: {by: sector}\n", "  sector: {by: sector}\n  guild: {groups: {members: [w01, w02], others: [w02, w03], left: rest}}\n"),
           ("case.yaml:9", "groupings.guild.groups.others[0]", "w02")),
    Broken("grouping-unknown-work", yaml_replace("  sector: {by: sector}\n", "  sector: {by: sector}\n  guild: {groups: {members: [w01, w99], left: rest}}\n"),
           ("case.yaml:9", "groupings.guild.groups.members[1]", "w99")),
    Broken("grouping-two-rest", yaml_replace("  sector: {by: sector}\n", "  sector: {by: sector}\n  guild: {groups: {a: rest, b: rest}}\n"),
           ("case.yaml:9", "groupings.guild.groups", "rest")),
    Broken("grouping-name-with-colon", yaml_replace("  sector: {by: sector}\n", "  sector: {by: sector}\n  'a:b': {by: sector}\n"),
           ("case.yaml:9", "groupings.a:b")),
    Broken("groupings-empty", yaml_replace("groupings:\n  work: {by: id}\n  publisher: {by: publisher}\n  sector: {by: sector}\n", "groupings: {}\n"),
           ("case.yaml:5", "groupings")),
    # evidence file
    Broken("runs-file-missing", remove_file("runs.csv"), ("case.yaml:10", "evidence.runs", "no such file")),
    Broken("runs-is-a-folder", make_folder("runs.csv"), ("case.yaml:10", "evidence.runs", "folder")),
    Broken("runs-wrong-suffix", use_runs("runs.txt", VALID_RUNS_BYTES), ("case.yaml:10", "evidence.runs", "runs.txt")),
    Broken("runs-gz-not-csv-gz", use_runs("runs.gz", gz_of(VALID_RUNS_BYTES)), ("case.yaml:10", "evidence.runs", "runs.gz")),
    Broken("runs-outside-case-folder", yaml_replace("runs: runs.csv", "runs: ../runs.csv"), ("case.yaml:10", "evidence.runs", "inside the case folder")),
    # claimants and scenarios
    Broken("claimant-shares-not-summing-to-1", claimants("publisher: {by: publisher, share: 0.5}", "publisher: {by: publisher, share: 0.4}"),
           ("works.csv:2", "id", "sum to 1", "0.9")),
    Broken("claimant-share-1.5", claimants("author: {by: publisher, share: 0.5}", "author: {by: publisher, share: 1.5}"),
           (f"case.yaml:{CL['author']}", "claimants.rights.author.share", "1.5")),
    Broken("claimant-share-column-missing", claimants("author: {by: publisher, share: 0.5}", "author: {by: publisher, share: author_share}"),
           (f"case.yaml:{CL['author']}", "claimants.rights.author.share", "author_share")),
    Broken("claimant-by-unknown-column", claimants("author: {by: publisher,", "author: {by: writer,"),
           (f"case.yaml:{CL['author']}", "claimants.rights.author.by", "writer")),
    Broken("claimant-members-unknown-work", claimants("author: {by: publisher, share: 0.5}", "author: {members: {A: [w01, w77]}, share: 0.5}"),
           (f"case.yaml:{CL['author']}", "claimants.rights.author.members.A", "w77")),
    Broken("collective-unknown-claimant", claimants("big two: {publisher: [P1, P2]}", "big two: {publisher: [P1, P22]}"),
           (f"case.yaml:{CL['big two']}", "claimants.collectives.big two.publisher", "P22")),
    Broken("collective-unknown-class", claimants("big two: {publisher: [P1, P2]}", "big two: {printer: [P1]}"),
           (f"case.yaml:{CL['big two']}", "claimants.collectives.big two", "printer")),
    Broken("scenario-unknown-grouping", claimants("grouping: publisher", "grouping: imprint"),
           (f"case.yaml:{CL['grouping']}", "scenarios.s1.grouping", "imprint")),
    Broken("scenario-least-core", claimants("method: loo", "method: least_core"),
           (f"case.yaml:{CL['method']}", "scenarios.s1.method", "least_core")),
    Broken("scenario-unknown-method", claimants("method: loo", "method: nucleolus"),
           (f"case.yaml:{CL['method']}", "scenarios.s1.method", "nucleolus")),
    Broken("scenario-pool-amount-and-rate", claimants("pool: {amount: 1000000}", "pool: {amount: 1000000, rate: 5}"),
           (f"case.yaml:{CL['pool']}", "scenarios.s1.pool", "both")),
    Broken("scenario-pool-negative", claimants("pool: {amount: 1000000}", "pool: {amount: -1}"),
           (f"case.yaml:{CL['pool']}", "scenarios.s1.pool.amount")),
    Broken("scenario-split-unknown", claimants("split: tokens", "split: pages"),
           (f"case.yaml:{CL['split']}", "scenarios.s1.split", "pages")),
    Broken("scenario-without-claimants", yaml_append("scenarios:\n  s1:\n    grouping: publisher\n    pool: {amount: 1}\n"),
           ("case.yaml:18", "scenarios.s1", "claimants")),
]

# ----------------------------------------------------------------------------- the corpus: run table

R0 = row_index(0, 0, 0, 4)  # full model, seed 1, arc, item 4 -> line 6


def line(row: int) -> str:
    return f"runs.csv:{row + 2}"


def drop_rows(predicate):
    return lambda rows: [row for row in rows if not predicate(row)]


RUN_TABLE = [
    # delimiters, encodings and shape
    Broken("runs-semicolon-delimiter", runs_rows(lambda rows: rows, delimiter=";"), ("runs.csv:1", "(header)", "';'")),
    Broken("runs-tab-delimiter", runs_rows(lambda rows: rows, delimiter="\t"), ("runs.csv:1", "(header)", "tab")),
    Broken("runs-pipe-delimiter", runs_rows(lambda rows: rows, delimiter="|"), ("runs.csv:1", "(header)", "'|'")),
    Broken("runs-latin1", runs_text(lambda text: text.replace("arc-07", "arc-\u00e907").encode("latin-1")), ("runs.csv:9", "UTF-8", "0xe9")),
    Broken("runs-utf16", runs_text(lambda text: text.encode("utf-16")), ("runs.csv:1", "UTF-8")),
    Broken("runs-ragged-long-row", runs_text(lambda text: text.replace("arc-07,", "arc-07,extra,", 1)), ("runs.csv:9",)),
    Broken("runs-ragged-short-row", runs_rows(lambda rows: [row if i != 7 else row[:4] for i, row in enumerate(rows)]), ("runs.csv:9",)),
    Broken("runs-unclosed-quote", runs_text(lambda text: text.replace("arc-07,", '"arc-07,', 1)), ("runs.csv:9", "(file)", "EOF inside string")),
    Broken("runs-nul-byte", runs_rows(set_cell(R0, "score", "0.61\x00")), (line(R0), "score", "'0.61\\x00'")),
    Broken("runs-empty-file", file_bytes("runs.csv", b""), ("runs.csv:1", "empty")),
    Broken("runs-whitespace-only", file_bytes("runs.csv", b"\n  \n"), ("runs.csv:1", "empty")),
    Broken("runs-header-only", file_bytes("runs.csv", ",".join(RUN_COLUMNS).encode() + b"\n"), ("runs.csv:2", "(rows)", "none")),
    # columns
    Broken("runs-missing-score", runs_rows(lambda rows: [row[:5] for row in rows], header=RUN_COLUMNS[:5]), ("runs.csv:1", "(header)", "missing score")),
    Broken("runs-missing-seed", runs_rows(lambda rows: [row[:1] + row[2:] for row in rows], header=RUN_COLUMNS[:1] + RUN_COLUMNS[2:]), ("runs.csv:1", "(header)", "missing seed")),
    Broken("runs-missing-removed", runs_rows(lambda rows: [row[:2] + row[3:] for row in rows], header=RUN_COLUMNS[:2] + RUN_COLUMNS[3:]), ("runs.csv:1", "(header)", "missing removed")),
    Broken("runs-column-misspelt", runs_rows(lambda rows: rows, header=RUN_COLUMNS[:5] + ["scores"]), ("runs.csv:1", "(header)", "'scores' for 'score'")),
    Broken("runs-column-capitalised", runs_rows(lambda rows: rows, header=["Run"] + RUN_COLUMNS[1:]), ("runs.csv:1", "(header)", "missing run")),
    # scores
    Broken("score-nan", runs_rows(set_cell(R0, "score", "nan")), (line(R0), "score", "'nan'")),
    Broken("score-NaN-capital", runs_rows(set_cell(R0, "score", "NaN")), (line(R0), "score", "'NaN'")),
    Broken("score-inf", runs_rows(set_cell(R0, "score", "inf")), (line(R0), "score", "'inf'")),
    Broken("score-minus-infinity", runs_rows(set_cell(R0, "score", "-Infinity")), (line(R0), "score", "'-Infinity'")),
    Broken("score-overflow-1e999", runs_rows(set_cell(R0, "score", "1e999")), (line(R0), "score", "'1e999'")),
    Broken("score-empty", runs_rows(set_cell(R0, "score", "")), (line(R0), "score", "empty")),
    Broken("score-non-numeric", runs_rows(set_cell(R0, "score", "abc")), (line(R0), "score", "'abc'")),
    Broken("score-decimal-comma", runs_rows(set_cell(R0, "score", "0,61")), (line(R0), "score", "'0,61'")),
    Broken("score-percent", runs_rows(set_cell(R0, "score", "61%")), (line(R0), "score", "'61%'")),
    # ids
    Broken("run-empty", runs_rows(set_cell(R0, "run", "")), (line(R0), "run", "empty")),
    Broken("benchmark-empty", runs_rows(set_cell(R0, "benchmark", "")), (line(R0), "benchmark", "empty")),
    Broken("item-empty", runs_rows(set_cell(R0, "item", "")), (line(R0), "item", "empty")),
    Broken("benchmark-named-all", runs_rows(set_cells(lambda row: row[3] == "piqa", "benchmark", "all")),
           (line(row_index(0, 0, 1, 0)), "benchmark", "'all'")),
    # removed
    Broken("removed-unknown-grouping", runs_rows(set_cells(lambda row: row[2] == "publisher:P1", "removed", "publishr:P1")),
           (line(row_index(4, 0, 0, 0)), "removed", "publishr", "did you mean 'publisher'")),
    Broken("removed-unknown-group", runs_rows(set_cells(lambda row: row[2] == "publisher:P1", "removed", "publisher:P9")),
           (line(row_index(4, 0, 0, 0)), "removed", "P9")),
    Broken("removed-without-colon", runs_rows(set_cells(lambda row: row[2] == "publisher:P1", "removed", "P1")),
           (line(row_index(4, 0, 0, 0)), "removed", "'P1'")),
    Broken("removed-unknown-work", runs_rows(set_cells(lambda row: row[2] == "work:w02", "removed", "work:w2")),
           (line(row_index(2, 0, 0, 0)), "removed", "'w2'")),
    # consistency
    Broken("duplicate-row", runs_rows(lambda rows: rows + [list(rows[5])]), ("runs.csv:962", "(run, benchmark, item)", "row 7")),
    Broken("run-with-two-seeds", runs_rows(set_cell(7, "seed", "2")), ("runs.csv:9", "seed", "c0-s1")),
    Broken("run-with-two-configurations", runs_rows(set_cell(7, "removed", "work:w01")), ("runs.csv:9", "removed", "c0-s1")),
    Broken("two-runs-one-configuration-and-seed", runs_rows(set_cells(lambda row: row[0] == "c1-s2", "seed", "1")),
           (line(row_index(1, 1, 0, 0)), "run", "c1-s1", "c1-s2")),
    Broken("item-missing-breaks-pairing", runs_rows(lambda rows: [row for i, row in enumerate(rows) if i != row_index(2, 0, 0, 5)]),
           (line(row_index(2, 0, 0, 0)), "item", "arc-05")),
    Broken("item-renamed-breaks-pairing", runs_rows(set_cell(row_index(2, 0, 0, 5), "item", "arc-99")),
           ("runs.csv:", "item", "pairing")),
    Broken("configuration-missing-a-benchmark", runs_rows(drop_rows(lambda row: row[0].startswith("c3-") and row[3] == "piqa")),
           ("runs.csv:", "benchmark", "piqa", "work:w07")),
    # gzip
    Broken("gz-empty", use_runs("runs.csv.gz", b""), ("runs.csv.gz:1", "empty")),
    Broken("gz-not-gzip", use_runs("runs.csv.gz", VALID_RUNS_BYTES), ("runs.csv.gz", "(file)", "gzip")),
    Broken("gz-truncated", use_runs("runs.csv.gz", gz_of(VALID_RUNS_BYTES)[:200]), ("runs.csv.gz", "(file)", "gzip")),
    Broken("gz-of-latin1", use_runs("runs.csv.gz", gz_of(VALID_RUNS_BYTES.replace(b"arc-07", b"arc-\xe907"))), ("runs.csv.gz:9", "UTF-8")),
    Broken("gz-of-empty-text", use_runs("runs.csv.gz", gz_of(b"")), ("runs.csv.gz:1", "empty")),
    # parquet
    Broken("parquet-corrupt", use_runs("runs.parquet", b"PAR1" + b"\x00garbage" * 50 + b"PAR1"), ("runs.parquet", "(file)", "Parquet")),
    Broken("parquet-empty-file", use_runs("runs.parquet", b""), ("runs.parquet", "(file)", "Parquet")),
    Broken("parquet-truncated", use_runs("runs.parquet", truncated(parquet_of(), 0.5)), ("runs.parquet", "(file)", "Parquet")),
    Broken("parquet-is-csv", use_runs("runs.parquet", VALID_RUNS_BYTES), ("runs.parquet", "(file)", "Parquet")),
    Broken("parquet-missing-column", use_runs("runs.parquet", parquet_of(lambda c: {k: v for k, v in c.items() if k != "benchmark"})),
           ("runs.parquet: (header)", "missing benchmark")),
    Broken("parquet-nan-score", use_runs("runs.parquet", parquet_of(lambda c: {**c, "score": [float("nan")] + c["score"][1:]})),
           ("runs.parquet:row 1", "score", "NaN")),
    Broken("parquet-null-score", use_runs("runs.parquet", parquet_of(lambda c: {**c, "score": [None] + c["score"][1:]})),
           ("runs.parquet:row 1", "score", "missing value")),
    Broken("parquet-inf-score", use_runs("runs.parquet", parquet_of(lambda c: {**c, "score": c["score"][:3] + [float("inf")] + c["score"][4:]})),
           ("runs.parquet:row 4", "score")),
    Broken("parquet-text-score", use_runs("runs.parquet", parquet_of(lambda c: {**c, "score": ["x"] + [str(v) for v in c["score"][1:]]})),
           ("runs.parquet:row 1", "score", "'x'")),
    Broken("parquet-zero-rows", use_runs("runs.parquet", parquet_of(lambda c: {k: v[:0] for k, v in c.items()})),
           ("runs.parquet: (rows)", "none")),
    Broken("parquet-null-removed-key", use_runs("runs.parquet", parquet_of(lambda c: {**c, "run": [None] + c["run"][1:]})),
           ("runs.parquet:row 1", "run", "empty")),
    Broken("parquet-list-column", use_runs("runs.parquet", parquet_of(lambda c: {**c, "removed": [[v] for v in c["removed"]]})),
           ("runs.parquet", "removed")),
    Broken("runs-symlink-outside", lambda folder: ((folder / "runs.csv").unlink(), (folder / "runs.csv").symlink_to("/etc/hostname")),
           ("case.yaml:10", "evidence.runs", "inside the case folder")),
]

CORPUS = CASE_FILE + RUN_TABLE
assert len({broken.id for broken in CORPUS}) == len(CORPUS), "duplicate ids in the corpus"

# ----------------------------------------------------------------------------- checks


def out_is_empty(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


def check_failure(exit_code: int, output: str, broken: Broken, out: Path) -> None:
    assert "Traceback" not in output, output
    assert exit_code == 2, f"exit {exit_code}, expected 2:\n{output}"
    for fragment in broken.expect:
        assert fragment in output, f"{fragment!r} not in the message:\n{output}"
    assert not (out / "valuations.csv").exists()
    assert out_is_empty(out), f"output written: {sorted(p.name for p in out.iterdir())}"


@pytest.mark.parametrize("broken", CORPUS, ids=[broken.id for broken in CORPUS])
def test_broken_input_exits_2_with_a_located_message(broken: Broken, tmp_path):
    case = write_small_case(tmp_path / "case")
    broken.apply(case.parent)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["build", str(case), "-o", str(out), "--format", "csv,json", "-q", *broken.args])
    output = result.output + (result.stderr if result.stderr_bytes is not None and result.stderr not in result.output else "")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    check_failure(result.exit_code, output, broken, out)


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 60


def test_case_path_is_a_folder(tmp_path):
    case = write_small_case(tmp_path / "case")
    result = CliRunner().invoke(cli, ["build", str(case.parent), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert str(case.parent) in result.output and "directory" in result.output
    assert not (tmp_path / "out").exists()


def test_case_path_missing(tmp_path):
    result = CliRunner().invoke(cli, ["build", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2
    assert "nope.yaml" in result.output and "no such file" in result.output
    assert not (tmp_path / "out").exists()


def test_the_valid_base_case_builds(small_case, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["build", str(small_case), "-o", str(out), "--format", "csv,json", "-q"])
    assert result.exit_code == 0, result.output
    assert (out / "valuations.csv").exists() and (out / "analysis.json").exists()


TOLERATED = [
    ("case-bom", lambda folder: (folder / "case.yaml").write_bytes(b"\xef\xbb\xbf" + (folder / "case.yaml").read_bytes())),
    ("runs-bom", lambda folder: (folder / "runs.csv").write_bytes(b"\xef\xbb\xbf" + (folder / "runs.csv").read_bytes())),
    ("works-bom", lambda folder: (folder / "works.csv").write_bytes(b"\xef\xbb\xbf" + (folder / "works.csv").read_bytes())),
    ("runs-crlf", lambda folder: (folder / "runs.csv").write_bytes((folder / "runs.csv").read_bytes().replace(b"\n", b"\r\n"))),
    ("case-crlf", lambda folder: (folder / "case.yaml").write_bytes((folder / "case.yaml").read_bytes().replace(b"\n", b"\r\n"))),
    ("runs-gz", use_runs("runs.csv.gz", gz_of(VALID_RUNS_BYTES))),
    ("runs-parquet", use_runs("runs.parquet", parquet_of())),
    ("runs-extra-column", runs_rows(lambda rows: [row + ["x"] for row in rows], header=RUN_COLUMNS + ["note"])),
    ("claimants-and-scenarios", yaml_append(CLAIMANTS)),
    ("groupings-that-do-not-nest", yaml_replace("  sector: {by: sector}\n",
                                                "  sector: {by: sector}\n  odd: {groups: {a: [w01, w04], b: rest}}\n")),
]


def padded(rows):
    """Spaces around every text cell (cells are stripped on reading)."""
    return [[f"  {cell} " if i in (0, 1, 3, 4) or (i == 2 and cell) else cell for i, cell in enumerate(row)]
            for row in rows]


def dictionary_columns(columns):
    return {name: (pa.array(values).dictionary_encode() if name in ("run", "removed", "benchmark", "item") else values)
            for name, values in columns.items()}


SAME_EVIDENCE = [
    ("padded-cells", runs_rows(padded)),
    ("rows-reversed", runs_rows(lambda rows: rows[::-1])),
    ("csv-gz", use_runs("runs.csv.gz", gz_of(VALID_RUNS_BYTES))),
    ("parquet", use_runs("runs.parquet", parquet_of())),
    ("parquet-dictionary-columns", use_runs("runs.parquet", parquet_of(dictionary_columns))),
    ("parquet-seed-as-text", use_runs("runs.parquet", parquet_of(lambda c: {**c, "seed": [str(v) for v in c["seed"]]}))),
]


@pytest.mark.parametrize("name,apply", SAME_EVIDENCE, ids=[name for name, _ in SAME_EVIDENCE])
def test_the_same_evidence_spelt_differently_gives_the_same_valuations(name, apply, tmp_path):
    reference = write_small_case(tmp_path / "reference")
    assert CliRunner().invoke(cli, ["build", str(reference), "-o", str(tmp_path / "ref-out"), "--format", "csv",
                                    "-q"]).exit_code == 0
    case = write_small_case(tmp_path / "case")
    apply(case.parent)
    result = CliRunner().invoke(cli, ["build", str(case), "-o", str(tmp_path / "out"), "--format", "csv", "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "valuations.csv").read_bytes() == (tmp_path / "ref-out" / "valuations.csv").read_bytes()


@pytest.mark.parametrize("name,apply", TOLERATED, ids=[name for name, _ in TOLERATED])
def test_tolerated_variants_build(name, apply, tmp_path):
    """Variants that are not errors: a BOM, CRLF line ends, gzip and Parquet, extra columns, non-nesting groupings."""
    case = write_small_case(tmp_path / "case")
    apply(case.parent)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["build", str(case), "-o", str(out), "--format", "csv,json", "-q"])
    assert result.exit_code == 0, result.output
    assert (out / "valuations.csv").exists()


def test_non_nesting_grouping_is_reported_by_validate(tmp_path):
    case = write_small_case(tmp_path / "case")
    yaml_replace("  sector: {by: sector}\n", "  sector: {by: sector}\n  odd: {groups: {a: [w01, w04], b: rest}}\n")(case.parent)
    result = CliRunner().invoke(cli, ["validate", str(case)])
    assert result.exit_code == 0, result.output
    assert "grouping sector: 2 groups" in result.output and "does NOT nest in odd" in result.output


# ----------------------------------------------------------------------------- known message defects (expert/case.py)


def messages_of(broken_apply, tmp_path) -> str:
    case = write_small_case(tmp_path / "case")
    broken_apply(case.parent)
    result = CliRunner().invoke(cli, ["validate", str(case)])
    assert result.exit_code == 2, result.output
    return result.output


def test_alias_bomb_is_reported_once(tmp_path):
    output = messages_of(yaml_append(BOMB), tmp_path)
    assert "1 problem" in output and "empty file" not in output


def test_scenario_messages_point_at_the_field_line(tmp_path):
    output = messages_of(claimants("method: loo", "method: nucleolus"), tmp_path)
    assert f"case.yaml:{CL['method']}: scenarios.s1.method" in output


def test_union_messages_do_not_leak_pydantic_internals(tmp_path):
    output = messages_of(yaml_replace("  methods: [loo]\n", "  methods: [loo]\n  equivalence_margin: -0.01\n"), tmp_path)
    assert "constrained-float" not in output and "1 problem" in output


def test_string_constraint_messages_read_as_expectations(tmp_path):
    output = messages_of(yaml_replace("title: Hardening test matter", 'title: ""'), tmp_path)
    assert "expected String should" not in output


def test_works_unclosed_quote_names_its_line(tmp_path):
    works = b'id,publisher,sector,tokens\nw01,P1,S1,1\n"w02,P1,S1,2\nw03,P1,S1,3\n'
    output = messages_of(file_bytes("works.csv", works), tmp_path)
    assert "works.csv:3" in output


# ----------------------------------------------------------------------------- through a real terminal process

SUBPROCESS_SAMPLE = ["alias-bomb", "python-object-apply-tag", "grouping-strays", "runs-latin1", "parquet-corrupt",
                     "item-missing-breaks-pairing"]


@pytest.mark.parametrize("broken", [b for b in CORPUS if b.id in SUBPROCESS_SAMPLE], ids=lambda b: b.id)
def test_broken_input_in_a_subprocess_has_no_traceback(broken: Broken, tmp_path, expert_exe):
    case = write_small_case(tmp_path / "case")
    broken.apply(case.parent)
    out = tmp_path / "out"
    process = subprocess.run([expert_exe, "build", str(case), "-o", str(out), "--format", "csv,json"],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "default"})
    output = process.stdout + process.stderr
    check_failure(process.returncode, output, broken, out)
    assert process.stdout == "", "nothing but errors is printed, and errors go to stderr"
    assert "invalid input" in process.stderr


ZERO_GAME = {
    "works.csv": "id\np0\np1\n",
    "runs.csv": "run,seed,removed,benchmark,score\na,1,,b,0.5\nb,1,player:p0,b,0.5\nc,1,player:p1,b,0.5\nd,1,player:*,b,0.5\n",
    "case.yaml": "matter: {title: Zero, date: 2025-01-31}\nworks: works.csv\ngroupings:\n  player: {by: id}\n"
                 "evidence: {runs: runs.csv}\nanalysis:\n  methods: [loo, shapley]\n  bootstrap: {resamples: 50}\n",
}


def test_a_game_worth_nothing_builds_without_runtime_warnings(tmp_path, expert_exe):
    """Every configuration scores the same: values are 0, shares undefined; the build must stay quiet about numpy."""
    for name, text in ZERO_GAME.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    process = subprocess.run([expert_exe, "build", str(tmp_path / "case.yaml"), "-o", str(tmp_path / "out"),
                              "--format", "csv,json", "-q"], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert "RuntimeWarning" not in process.stderr, process.stderr
