"""The PDF as a litigation document: attachments, Bates, hostile input, locked-down rendering."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from expert.build import build
from expert.errors import CaseError, InputError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "cases" / "demo"

HOSTILE = {
    "title": '<img src="file:///etc/hostname"> {{ 7*7 }} </table>',
    "caption": '<link rel="attachment" href="file:///etc/passwd">' + " Plaintiffs v. Defendant" * 3,
    "court": "ש" * 40 + " court " + "x" * 300,
    "assignment": "{% raw %}{{ config }}{% endraw %} <script>alert(1)</script>",
}


def _copy_demo(tmp_path: Path, **matter) -> Path:
    for name in ("works.csv", "runs.parquet"):
        shutil.copy(DEMO / name, tmp_path / name)
    case = yaml.safe_load((DEMO / "case.yaml").read_text())
    case["matter"].update(matter)
    case["analysis"]["methods"] = ["loo"]
    case["analysis"]["bootstrap"]["resamples"] = 99
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(case, allow_unicode=True))
    return tmp_path / "case.yaml"


def _text(path: Path) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(path))
    return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


def test_attachments_are_the_inputs_and_the_data(tmp_path):
    case = _copy_demo(tmp_path)
    result = build(case, tmp_path / "out", ["pdf", "csv"])
    reader = PdfReader(tmp_path / "out" / "report.pdf")
    attachments = {name: data[0] for name, data in reader.attachments.items()}
    assert attachments["case.yaml"] == case.read_bytes()
    assert attachments["runs.parquet"] == (tmp_path / "runs.parquet").read_bytes()
    assert attachments["valuations.csv"] == (tmp_path / "out" / "valuations.csv").read_bytes()
    manifest = json.loads(attachments["manifest.json"])
    assert {item["name"] for item in manifest["inputs"]} == {"case.yaml", "works.csv", "runs.parquet"}
    assert manifest["bootstrap"]["seed"] == result.analysis.case.analysis.bootstrap.seed


def test_large_inputs_are_attached_as_their_hash(tmp_path):
    case = _copy_demo(tmp_path)
    data = yaml.safe_load(case.read_text())
    data["report"]["attach_limit_mb"] = 0.1
    case.write_text(yaml.safe_dump(data))
    build(case, tmp_path / "out", ["pdf"])
    attachments = PdfReader(tmp_path / "out" / "report.pdf").attachments
    assert "runs.parquet" not in attachments and "runs.parquet.sha256.txt" in attachments


def test_bates_numbers_every_page(tmp_path):
    case = _copy_demo(tmp_path)
    data = yaml.safe_load(case.read_text())
    data["report"]["bates"] = {"prefix": "ACME-EXP-", "start": 1234, "digits": 7}
    data["report"]["page_size"] = "a4"
    case.write_text(yaml.safe_dump(data))
    build(case, tmp_path / "out", ["pdf"])
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(tmp_path / "out" / "report.pdf"))
    for index in range(len(document)):
        assert f"ACME-EXP-{1234 + index:07d}" in document[index].get_textpage().get_text_range()
    width, height = document[0].get_size()
    assert round(width) == 595 and round(height) == 842  # A4 in points


def test_hostile_matter_fields_are_printed_not_obeyed(tmp_path, caplog):
    case = _copy_demo(tmp_path, **HOSTILE)
    with caplog.at_level("WARNING", logger="weasyprint"):
        build(case, tmp_path / "out", ["pdf", "html"])
    reader = PdfReader(tmp_path / "out" / "report.pdf")
    assert set(reader.attachments) == {"case.yaml", "works.csv", "runs.parquet", "valuations.csv", "manifest.json"}
    text = _text(tmp_path / "out" / "report.pdf")
    assert "{{ 7*7 }}" in text  # printed as written, never evaluated
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<img src=\"file:///etc/hostname\">" not in html and "&lt;img" in html
    assert "<script>" not in html
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_paths_outside_the_case_folder_are_refused(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    case = _copy_demo(inner)
    data = yaml.safe_load(case.read_text())
    shutil.move(inner / "runs.parquet", tmp_path / "runs.parquet")
    data["evidence"]["runs"] = "../runs.parquet"
    case.write_text(yaml.safe_dump(data))
    with pytest.raises(CaseError, match="expected a path inside the case folder"):
        build(case, tmp_path / "out", ["csv"])
    build(case, tmp_path / "out", ["csv"], allow_outside_paths=True)


def test_firm_templates_override_and_cannot_escape(tmp_path):
    case = _copy_demo(tmp_path)
    firm = tmp_path / "firm"
    firm.mkdir()
    (firm / "firm.css").write_text("h1 { color: #004400; }")
    (firm / "base.html").write_text((ROOT / "templates" / "base.html").read_text().replace(
        '<link rel="stylesheet" href="asset:report.css">',
        '<link rel="stylesheet" href="asset:report.css"><link rel="stylesheet" href="asset:firm.css">'))
    data = yaml.safe_load(case.read_text())
    data["report"]["template_dir"] = "firm"
    case.write_text(yaml.safe_dump(data))
    build(case, tmp_path / "out", ["pdf", "html"])
    assert 'href="asset:firm.css"' in (tmp_path / "out" / "report.html").read_text()  # the firm's base.html was used
    (firm / "base.html").write_text((firm / "base.html").read_text().replace(
        "</head>", '<link rel="attachment" href="file:///etc/passwd"></head>'))
    with pytest.raises(InputError, match="expected templates that use only their own files"):
        build(case, tmp_path / "out2", ["pdf"])
    assert not (tmp_path / "out2" / "report.pdf").exists()
