"""End to end: every case in cases/ builds; outputs are complete, atomic and byte-identical."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from expert.build import CSV_COLUMNS, build
from expert.errors import CaseError

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((ROOT / "cases").glob("*/case.yaml"))


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return build(ROOT / "cases" / "demo" / "case.yaml", out)


def _pdf_text(path: Path) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(path))
    pages = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    return "\n".join(pages).replace("\r", "").replace("\u2212", "-")


@pytest.mark.parametrize("case_path", CASES, ids=[path.parent.name for path in CASES])
def test_every_case_builds(case_path, tmp_path):
    result = build(case_path, tmp_path, resamples=199)
    names = {str(name) for name in result.files}
    assert {"report.pdf", "report.html", "valuations.csv", "analysis.json"} <= names
    assert any(name.startswith("figures/") and name.endswith(".svg") for name in names)
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")


def test_demo_pdf_holds_headings_and_key_numbers(demo_build):
    text = _pdf_text(demo_build.out_dir / "report.pdf")
    for heading in ("Summary of opinions", "Materials considered", "Methods", "Results at each grouping",
                    "Why value depends on grouping", "Limitations", "Reproducibility manifest", "Contents"):
        assert heading in text, heading
    rows = list(csv.DictReader(io.StringIO((demo_build.out_dir / "valuations.csv").read_text())))
    sectors = [row for row in rows if row["grouping"] == "sector" and row["method"] == "loo" and row["benchmark"] == "all"]
    assert len(sectors) == 5
    for row in sectors:  # the report prints points = score x 100, 3 decimals, with the interval
        assert f"{float(row['estimate']) * 100:.3f}" in text, row
        assert f"[{float(row['ci_low']) * 100:.3f}, {float(row['ci_high']) * 100:.3f}]" in text, row
    assert "simulated" in text.lower()
    # every page carries the caption, the legend and Page X of Y
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(demo_build.out_dir / "report.pdf"))
    n = len(document)
    for index in range(1, n):
        page = document[index].get_textpage().get_text_range()
        assert f"Page {index + 1} of {n}" in page
        assert "ILLUSTRATIVE" in page


def test_demo_outline_and_metadata(demo_build):
    from pypdf import PdfReader

    reader = PdfReader(demo_build.out_dir / "report.pdf")
    assert reader.metadata.title.startswith("Valuing books")
    titles = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                titles.append(item.title)

    walk(reader.outline)
    assert any(title.startswith("1. Assignment") for title in titles)
    exhibits = [title for title in titles if title.startswith("Exhibit ")]
    numbers = [int(title.split()[1].rstrip(".")) for title in exhibits]
    assert numbers == list(range(1, len(numbers) + 1))  # numbered once, in order of appearance


def test_valuations_csv_columns_and_macro_average(demo_build):
    rows = list(csv.DictReader(io.StringIO((demo_build.out_dir / "valuations.csv").read_text())))
    assert list(rows[0].keys()) == CSV_COLUMNS
    by_key = {}
    for row in rows:
        by_key.setdefault((row["grouping"], row["group"], row["method"], row["finer"]), {})[row["benchmark"]] = row
    benchmarks = {"arc_challenge", "boolq", "piqa"}
    for values in by_key.values():
        assert set(values) == benchmarks | {"all"}
        mean = sum(float(values[b]["estimate"]) for b in benchmarks) / 3
        assert float(values["all"]["estimate"]) == pytest.approx(mean, abs=1e-9)
        for row in values.values():
            if row["interval"] not in ("exact", "degenerate"):
                assert float(row["ci_low"]) <= float(row["estimate"]) <= float(row["ci_high"])


def test_csv_alone_does_not_render(tmp_path, monkeypatch):
    # csv/json must not need WeasyPrint: make importing it fail
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    result = build(ROOT / "cases" / "demo" / "case.yaml", tmp_path, ["csv", "json"], resamples=99)
    assert sorted(str(name) for name in result.files) == ["analysis.json", "valuations.csv"]


def test_failed_build_leaves_earlier_outputs_untouched(tmp_path, demo_build):
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    source = ROOT / "cases" / "demo"
    for name in ("works.csv", "runs.parquet"):
        (case_dir / name).write_bytes((source / name).read_bytes())
    text = (source / "case.yaml").read_text()
    (case_dir / "case.yaml").write_text(text)
    out = tmp_path / "out"
    build(case_dir / "case.yaml", out, ["csv", "json"], resamples=99)
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    (case_dir / "case.yaml").write_text(text.replace("groupings:", "groupings:\n  bad: {by: nonexistent_column}"))
    with pytest.raises(CaseError):
        build(case_dir / "case.yaml", out, ["csv", "json"], resamples=99)
    after = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    assert after == before
    assert not [path for path in out.iterdir() if path.name.startswith(".expert-staging")]


def test_two_builds_are_byte_identical_across_processes_timezones_and_locales(tmp_path):
    case = ROOT / "cases" / "demo" / "case.yaml"
    expert = Path(sys.executable).with_name("expert")
    outputs = []
    for index, env_update in enumerate(({"TZ": "UTC", "LC_ALL": "C"},
                                        {"TZ": "Asia/Tokyo", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "123",
                                         "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})):
        out = tmp_path / "out"  # same folder, so the recorded command line is the same
        env = {**os.environ, **env_update}
        completed = subprocess.run([str(expert), "build", str(case), "-o", str(out), "-q", "--resamples", "499"],
                                   env=env, capture_output=True, text=True, cwd=tmp_path)
        assert completed.returncode == 0, completed.stderr
        outputs.append({path.relative_to(out).as_posix(): path.read_bytes()
                        for path in sorted(out.rglob("*")) if path.is_file()})
    assert outputs[0].keys() == outputs[1].keys()
    for name in outputs[0]:
        assert outputs[0][name] == outputs[1][name], name


def test_ten_thousand_works_keep_the_pdf_short(tmp_path):
    """10,000 works with 300 per-work LOO configurations: the body shows the top rows only."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(20261204)
    n_works = 10_000
    works = pd.DataFrame({"id": [f"w{i:05d}" for i in range(n_works)],
                          "publisher": [f"p{i % 100:03d}" for i in range(n_works)],
                          "sector": [f"s{i % 5}" for i in range(n_works)]})
    works.to_csv(tmp_path / "works.csv", index=False)
    removed = [""] + [f"work:w{i:05d}" for i in range(300)] + [f"publisher:p{i:03d}" for i in range(100)] + \
              [f"sector:s{i}" for i in range(5)]
    n_seeds, n_items = 2, 40
    base = rng.random((n_seeds, n_items))
    rows = []
    for c, spelling in enumerate(removed):
        p = 0.6 - 0.05 * spelling.startswith("sector") - 0.005 * spelling.startswith("publisher")
        scores = (base < p).astype(float)
        for s in range(n_seeds):
            for j in range(n_items):
                rows.append((f"r{c}-{s}", s, spelling, "b", f"i{j}", scores[s, j]))
    pd.DataFrame(rows, columns=["run", "seed", "removed", "benchmark", "item", "score"]).to_csv(tmp_path / "runs.csv",
                                                                                               index=False)
    (tmp_path / "case.yaml").write_text(
        "matter: {title: Scale, date: 2026-01-01}\nworks: works.csv\n"
        "groupings: {work: {by: id}, publisher: {by: publisher}, sector: {by: sector}}\n"
        "evidence: {runs: runs.csv}\nanalysis: {bootstrap: {resamples: 99}}\n")
    result = build(tmp_path / "case.yaml", tmp_path / "out", ["pdf", "csv"])
    from pypdf import PdfReader

    assert len(PdfReader(tmp_path / "out" / "report.pdf").pages) < 45
    rows = (tmp_path / "out" / "valuations.csv").read_text().splitlines()
    assert sum(",loo,all," in row and row.startswith("work,") for row in rows) == 300
    assert result.analysis.unavailable[0].grouping == "work"


def test_exhibits_on_their_own(tmp_path):
    result = build(ROOT / "cases" / "demo" / "case.yaml", tmp_path, ["pdf"], resamples=99, exhibits=True)
    names = {str(name) for name in result.files}
    pdfs = sorted(name for name in names if name.startswith("exhibits/") and name.endswith(".pdf"))
    assert len(pdfs) >= 20
    first = tmp_path / "exhibits" / "exhibit-01.pdf"
    text = _pdf_text(first)
    assert "Exhibit 1." in text and "Illustrative matter" in text and "ILLUSTRATIVE" in text
    rows = (tmp_path / "exhibits" / "exhibit-05.csv").read_text().splitlines()
    assert rows[0].startswith("Sector,Works,LOO,SE") and len(rows) == 6
    assert (tmp_path / "exhibits" / "exhibit-05.svg").read_bytes().startswith(b"<?xml")


def test_toc_page_numbers_equal_outline_destinations(demo_build):
    import re

    from pypdf import PdfReader

    reader = PdfReader(demo_build.out_dir / "report.pdf")
    outline = {}

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                outline[item.title.split(".")[0]] = reader.get_destination_page_number(item) + 1

    walk(reader.outline)
    toc_text = "".join(reader.pages[i].extract_text() for i in range(1, 4))
    found = dict(re.findall(r"(Exhibit \d+)\.[^\n]*?(\d+)\s*$", toc_text, flags=re.M))
    assert len(found) >= 10
    for label, page in found.items():
        assert outline[label] == int(page), label
