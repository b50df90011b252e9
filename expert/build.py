"""The pipeline: case file -> evidence -> analysis -> report and data outputs.

:func:`build` is the one function the command line calls. It computes
everything in memory, writes every output into a staging folder next to the
output folder, and only then moves each file into place with an atomic
rename, so a failed build leaves earlier outputs untouched and no partial
files (DESIGN.md "Outputs").
"""

from __future__ import annotations

import hashlib
from html.parser import HTMLParser
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .analysis import Analysis, analyse
from .case import REPORT_FORMATS, Case, load_case
from .errors import InputError, ReportError
from .evidence import read_runs

__all__ = ["BuildResult", "build", "check", "gather_evidence", "plan_case", "compare_case", "write_valuations_csv", "analysis_to_json"]

CSV_COLUMNS = ["grouping", "group", "method", "benchmark", "estimate", "std_error", "ci_low", "ci_high", "interval",
               "mde", "se_bootstrap", "se_analytic", "significant", "share", "share_low", "share_high", "n_works",
               "tokens", "configuration", "finer", "n_parts", "assumption"]


@dataclass(frozen=True)
class BuildResult:
    """What a build produced.

    Attributes
    ----------
    out_dir : Path
    files : tuple of Path
        Every file written, relative to ``out_dir``.
    analysis : Analysis
    warnings : tuple of str
        Analysis notes and renderer warnings.
    seconds : dict
        Wall time of each step.
    """

    out_dir: Path
    files: tuple[Path, ...]
    analysis: Analysis
    warnings: tuple[str, ...]
    seconds: dict


def check(case_path: str | Path, progress=None, allow_outside_paths: bool = False, jobs: int = 1,
          backend: str = "loky", refresh: bool = False):
    """Validate a case and gather its evidence (running its proxy experiment if it has one): (Case, RunTable)."""
    say = progress or (lambda message: None)
    say(f"reading case {case_path}")
    case = load_case(case_path, allow_outside_paths=allow_outside_paths)
    return gather_evidence(case, say, jobs=jobs, backend=backend, refresh=refresh)


def gather_evidence(case: Case, progress=None, jobs: int = 1, backend: str = "loky", refresh: bool = False):
    """The case's run table, its proxy experiment's (from the cache when possible), or both pooled."""
    import dataclasses

    say = progress or (lambda message: None)
    experiment = None
    if case.evidence.experiment is not None:
        from .case import InputFile, sha256_of
        from .experiment import cached_run_table

        say("proxy experiment (cached run table reused when its inputs are unchanged)")
        experiment = cached_run_table(case.directory, case.works, {g.name: g for g in case.groupings},
                                      case.evidence.experiment, jobs=jobs, backend=backend, progress=say,
                                      refresh=refresh)
        if experiment.path is not None:
            produced = InputFile("run table produced by the proxy experiment", experiment.path,
                                 sha256_of(experiment.path), experiment.path.stat().st_size)
            case = dataclasses.replace(case, inputs=case.inputs + (produced,))
    if case.evidence.runs is not None:
        say(f"reading run table {case.evidence.runs}")
        runs = read_runs(case, extra=experiment.table if experiment is not None else None)
    else:
        runs = read_runs(case, path=experiment.path) if experiment.path is not None else None
        if runs is None:
            import tempfile as _tempfile

            with _tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "experiment.parquet"
                experiment.table.to_parquet(path, index=False)
                runs = read_runs(case, path=path)
    return case, runs


def plan_case(case_path: str | Path, *, out_path: str | Path | None = None, allow_outside_paths: bool = False,
              **options):
    """Load a case (the run table may not exist yet), plan it, and write the configurations to train as CSV.

    Options are those of :func:`expert.plan.plan`. Returns the :class:`~expert.plan.Plan`.
    """
    from .plan import plan

    case = load_case(case_path, require_runs=False, allow_outside_paths=allow_outside_paths)
    has_runs = case.evidence.experiment is not None or (
        case.evidence.runs is not None and case.resolve(case.evidence.runs).exists())
    runs = gather_evidence(case)[1] if has_runs else None
    if runs is None and options.get("seed_sd") is None:
        raise InputError(f"{case.path.name}: evidence.runs: expected a run table, or --seed-sd (and --item-sd, --items) "
                         f"to plan without evidence; found neither")
    result = plan(case, runs, **options)
    if out_path is not None:
        missing = result.configurations[~result.configurations["present"]]
        text = missing[["removed", "seeds", "purpose"]].assign(sampling_seed=result.sampling_seed).to_csv(
            index=False, lineterminator="\n")
        _write_atomically(Path(out_path).resolve().parent, {Path(out_path).name: text.encode("utf-8")})
    return result


def compare_case(case_path: str | Path, names: list[str] | None = None, out_dir: str | Path | None = None, *,
                 resamples: int | None = None, allow_outside_paths: bool = False, progress=None):
    """Analyse a case and allocate its scenarios; write compare.csv and compare.xlsx to ``out_dir``.

    Returns (allocations by scenario name, comparison DataFrame).
    """
    from .scenarios import allocate_all, comparison

    case, runs = check(case_path, progress, allow_outside_paths)
    if not case.scenarios:
        raise InputError(f"{case.path.name}: scenarios: expected at least one scenario in the case, found none")
    unknown = [name for name in names or [] if name not in case.scenarios]
    if unknown:
        raise InputError(f"--scenario: expected one of {', '.join(repr(n) for n in case.scenarios)}, "
                         f"found {', '.join(repr(n) for n in unknown)}")
    case = _override(case, resamples, None)
    analysis = analyse(case, runs, progress=progress)
    allocations = allocate_all(analysis, names)
    table = comparison(allocations)
    if out_dir is not None:
        import io

        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            table.to_excel(writer, sheet_name="claimants", index=False)
            for name, result in allocations.items():
                if hasattr(result, "groups"):
                    result.groups.to_excel(writer, sheet_name=_sheet_name(name), index=False)
        _write_atomically(Path(out_dir), {"compare.csv": table.to_csv(index=False, lineterminator="\n").encode("utf-8"),
                                          "compare.xlsx": _fixed_xlsx(buffer.getvalue())})
    return allocations, table


def _sheet_name(name: str) -> str:
    cleaned = "".join(ch for ch in name if ch not in "[]:*?/\\")
    return cleaned[:31] or "scenario"


def _fixed_xlsx(data: bytes) -> bytes:
    """Rewrite an .xlsx with fixed zip timestamps and core-property dates, so the bytes are reproducible."""
    import io
    import re
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2000-01-01T00:00:00Z", content)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, content)
    return out.getvalue()


def build(case_path: str | Path, out_dir: str | Path, formats: list[str] | None = None, *,
          resamples: int | None = None, seed: int | None = None, command_line: str | None = None,
          progress=None, allow_outside_paths: bool = False, exhibits: bool = False, jobs: int = 1,
          backend: str = "loky") -> BuildResult:
    """Build the report and data outputs of a case.

    Parameters
    ----------
    case_path : str or Path
        The case file.
    out_dir : str or Path
        Output folder (created if missing).
    formats : list of str, optional
        Any of ``pdf``, ``html``, ``csv``, ``json``; default: the case's ``report.formats``.
    resamples, seed : int, optional
        Override the case's bootstrap replicates and seed (recorded in the outputs).
    allow_outside_paths : bool
        Allow the case to name files outside its own folder.
    exhibits : bool
        Also write each exhibit on its own: ``exhibits/exhibit-NN.pdf``, its table(s) as
        ``.csv`` and its chart as ``.svg``.
    jobs, backend : int, str
        Workers and joblib backend for a proxy experiment (``expert ablate``).
    command_line : str, optional
        Recorded in the reproducibility appendix.
    progress : callable, optional
        Called with a short message before each step.

    Returns
    -------
    BuildResult

    Raises
    ------
    CaseError, EvidenceError
        Invalid input (exit code 2 on the command line).
    ReportError
        The report could not be rendered or written.
    """
    say = progress or (lambda message: None)
    seconds = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    case, runs = check(case_path, say, allow_outside_paths, jobs=jobs, backend=backend)
    case = _override(case, resamples, seed)
    formats = list(dict.fromkeys(formats or case.report.formats))
    unknown = [item for item in formats if item not in REPORT_FORMATS]
    if unknown:
        raise InputError(f"--format: expected a comma-separated list of {', '.join(REPORT_FORMATS)}, found {', '.join(unknown)}")
    lap("read")
    analysis = analyse(case, runs, progress=say)
    lap("analyse")
    command_line = command_line or f"expert build {case.path.name}"

    from .significance import assess

    say("significance, equivalence, multiple testing, ranks and power")
    assessment = assess(analysis)
    lap("significance")
    outputs: dict[str, bytes] = {}
    warnings = list(analysis.warnings)
    if "csv" in formats:
        outputs["valuations.csv"] = write_valuations_csv(analysis).encode("utf-8")
    if "json" in formats:
        outputs["analysis.json"] = analysis_to_json(analysis, command_line, assessment).encode("utf-8")
    if "html" in formats or "pdf" in formats:
        from .report.charts import make_charts
        from .report.context import make_context
        from .report.render import render_html, template_assets

        say("charts")
        scale, unit = _scale_unit(analysis)
        allocations = tornado = None
        if case.scenarios:  # allocated once; the charts and the report context share them
            from .scenarios import Allocation, allocate_all, sensitivity

            allocations = allocate_all(analysis)
            first = next((name for name, result in allocations.items() if isinstance(result, Allocation)), None)
            tornado = sensitivity(analysis, first) if first is not None else None
        charts = make_charts(analysis, scale, unit, case.report.top_rows, allocations, tornado)
        lap("charts")
        for name, svg in charts.items():
            outputs[f"figures/{name}"] = svg
        template_dir = case.resolve(case.report.template_dir) if case.report.template_dir else None
        context = make_context(analysis, command_line,
                               {name.removesuffix(".svg"): f"figures/{name}" for name in charts}, assessment,
                               allocations)
        say("rendering HTML")
        html = render_html(context, template_dir)
        assets = template_assets(template_dir)
        if "html" in formats:
            outputs["report.html"] = _standalone_html(html, assets).encode("utf-8")
        lap("html")
        if "pdf" in formats:
            from .report.pdf import html_to_pdf, report_fonts

            say("rendering PDF")
            assets.update(report_fonts())
            assets.update({f"figures/{name}": (svg, "image/svg+xml") for name, svg in charts.items()})
            identifier = hashlib.sha256("".join(item.sha256 for item in case.inputs).encode()).hexdigest()[:32].encode()
            pdf, render_warnings = html_to_pdf(html, assets, case.matter.date, identifier,
                                               _attachments(analysis, command_line))
            outputs["report.pdf"] = pdf
            warnings.extend(f"PDF renderer: {message}" for message in render_warnings
                            if "instead of HarfBuzz-Subset" not in message)  # speed notice about the system, not the report
            lap("pdf")
            if exhibits:
                say(f"writing {len(context.exhibits)} exhibits on their own")
                outputs.update(_exhibit_outputs(html, context, assets, case.matter.date, identifier, charts))
                lap("exhibits")
    out_dir = Path(out_dir)
    say(f"writing {len(outputs)} files to {out_dir}")
    written = _write_atomically(out_dir, outputs)
    lap("write")
    return BuildResult(out_dir=out_dir, files=tuple(written), analysis=analysis, warnings=tuple(warnings), seconds=seconds)


def manifest(analysis: Analysis, command_line: str) -> dict:
    """The reproducibility manifest: inputs with SHA-256, versions, seeds, command line."""
    from .report.context import _reproducibility

    case = analysis.case
    reproducibility = _reproducibility(analysis, command_line)
    return {
        "inputs": [{"role": item.role, "name": item.path.name, "sha256": item.sha256, "size": item.size}
                   for item in case.inputs],
        "command_line": command_line,
        "expert_version": reproducibility["expert_version"],
        "python": reproducibility["python"],
        "platform": reproducibility["platform"],
        "packages": reproducibility["packages"],
        "bootstrap": {"resamples": case.analysis.bootstrap.resamples, "seed": case.analysis.bootstrap.seed,
                      "generator": "numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(block,))))"},
        "training_seeds": list(analysis.runs.seeds),
        "report_date": case.matter.date.isoformat(),
    }


def _attachments(analysis: Analysis, command_line: str) -> list[tuple[str, bytes, str]]:
    """Files embedded in the PDF: the inputs (or their hash when too large), valuations.csv and the manifest."""
    case = analysis.case
    limit = case.report.attach_limit_mb * 1024 * 1024
    files = []
    for item in case.inputs:
        if item.size <= limit:
            files.append((item.path.name, item.path.read_bytes(), f"Input ({item.role}), SHA-256 {item.sha256}"))
        else:
            note = (f"{item.path.name} ({item.role}) is {item.size:,} bytes, over the attachment limit of "
                    f"{case.report.attach_limit_mb:g} MB (report.attach_limit_mb).\nSHA-256 {item.sha256}\n")
            files.append((f"{item.path.name}.sha256.txt", note.encode("utf-8"), f"SHA-256 of {item.path.name}"))
    files.append(("valuations.csv", write_valuations_csv(analysis).encode("utf-8"), "Every valuation with its interval"))
    files.append(("manifest.json", (json.dumps(manifest(analysis, command_line), indent=1) + "\n").encode("utf-8"),
                  "Reproducibility manifest"))
    return files


class _TableText(HTMLParser):
    """Collects the text of every table row (th/td cells) of an HTML fragment."""

    def __init__(self):
        super().__init__()
        self.rows, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _exhibit_outputs(html: str, context, assets, date, identifier, charts) -> dict[str, bytes]:
    """Each exhibit on its own: a PDF (with the report's head, header and legend), its tables as CSV, its chart."""
    import csv
    import io
    import re

    from .report.pdf import html_to_pdf

    head, _, _ = html.partition("<body>")
    # an exhibit on its own carries the caption and its label on every page, the first included
    head = head.replace("</head>", "<style>@page:first { @top-left { content: string(case); } } "
                                   "@page { @top-right { content: string(exhibit, first); } }</style></head>")
    running = re.search(r'<div class="running">.*?</div>', html, flags=re.S)
    outputs = {}
    for item in context.exhibits:
        match = re.search(rf'<section class="exhibit" data-exhibit="{item.anchor}">.*?</section>', html, flags=re.S)
        if match is None:
            continue
        section = match.group(0)
        stem = f"exhibits/exhibit-{item.number:02d}"
        parser = _TableText()
        parser.feed(section)
        if parser.rows:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerows(parser.rows)
            outputs[f"{stem}.csv"] = buffer.getvalue().encode("utf-8")
        for name in re.findall(r'src="asset:figures/([^"]+)"', section):
            outputs[f"{stem}.svg"] = charts[name]
        page = f"{head}<body>{running.group(0) if running else ''}{section}</body></html>"
        attachments = [(f"exhibit-{item.number:02d}.csv", outputs[f"{stem}.csv"], f"Source data of {item.label}")] \
            if f"{stem}.csv" in outputs else []
        pdf, _ = html_to_pdf(page, assets, date, identifier + f"-{item.number}".encode(), attachments)
        outputs[f"{stem}.pdf"] = pdf
    return outputs


def _override(case: Case, resamples: int | None, seed: int | None) -> Case:
    if resamples is None and seed is None:
        return case
    import dataclasses

    bootstrap = case.analysis.bootstrap.model_copy(update={k: v for k, v in (("resamples", resamples), ("seed", seed))
                                                           if v is not None})
    analysis = case.analysis.model_copy(update={"bootstrap": bootstrap})
    return dataclasses.replace(case, analysis=analysis)


def _scale_unit(analysis: Analysis) -> tuple[float, str]:
    from .report.context import _units

    return _units(analysis.runs)


def _number(value) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        text = f"{float(value):.10g}"
        return "0" if text == "-0" else text
    return str(value)


def write_valuations_csv(analysis: Analysis) -> str:
    """valuations.csv: one row per (grouping, group, method, benchmark), in score units."""
    frame = analysis.valuations
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    columns = [frame[column].tolist() if column in frame else [None] * len(frame) for column in CSV_COLUMNS]
    for row in zip(*columns):
        writer.writerow([_number(value) for value in row])
    return buffer.getvalue()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(f"{float(value):.10g}") if math.isfinite(value) else None
    return str(value)


def analysis_to_json(analysis: Analysis, command_line: str, assessment=None) -> str:
    """analysis.json: settings, evidence summary, noise floor, notes and every valuation."""
    case, runs = analysis.case, analysis.runs
    settings = case.analysis.bootstrap
    document = {
        "expert_version": __version__,
        "matter": {"title": case.matter.title, "date": case.matter.date.isoformat(), "caption": case.matter.caption},
        "command_line": command_line,
        "inputs": [{"role": item.role, "name": item.path.name, "sha256": item.sha256, "size": item.size}
                   for item in case.inputs],
        "bootstrap": {"resamples": settings.resamples, "seed": settings.seed, "confidence": settings.confidence,
                      "interval": settings.interval, "power": case.analysis.power, "matched_seeds": runs.matched},
        "evidence": {"configurations": [{"label": c.label, "n_removed": len(c.removed), "runs": list(c.runs),
                                         "seeds": list(c.seeds)} for c in runs.configurations],
                     "benchmarks": [{"name": name, "n_items": len(items) if runs.has_items else 0}
                                    for name, items in zip(runs.benchmarks, runs.items)],
                     "seeds": list(runs.seeds), "n_rows": runs.n_rows, "simulated": case.evidence.simulated},
        "groupings": [{"name": g.name, "n_groups": len(g.groups), "by": g.by} for g in case.groupings],
        "nesting": [{"finer": finer, "coarser": coarser, "nests": nests} for finer, coarser, nests in case.nesting],
        "noise": analysis.noise.to_dict(orient="records"),
        "unavailable": [{"grouping": u.grouping, "method": u.method, "reason": u.reason, "missing": list(u.missing),
                         "n_missing": max(u.n_missing, len(u.missing))}
                        for u in analysis.unavailable],
        "notes": list(analysis.warnings),
        "total_value": analysis.total_value.to_dict(orient="records"),
        "accounting": analysis.accounting.to_dict(orient="records"),
        "least_core": list(analysis.least_core),
        "significance": None if assessment is None else {
            "equivalence_margin": assessment.margin, "alpha": assessment.alpha, "aa": assessment.aa,
            "tests": assessment.tests.to_dict(orient="records"),
            "power": assessment.power,
            "per_work": assessment.per_work.to_dict(orient="records"),
            "ranks": {name: {**{k: v for k, v in item.items() if k != "table"},
                             "table": item["table"].to_dict(orient="records")}
                      for name, item in assessment.ranks.items()}},
        "utilities": analysis.utilities[["group", "benchmark", "estimate", "std_error", "ci_low", "ci_high", "interval",
                                         "n_removed"]].rename(columns={"group": "configuration"}).to_dict(orient="records"),
        "valuations": analysis.valuations[[c for c in CSV_COLUMNS if c in analysis.valuations]].to_dict(orient="records"),
    }
    return json.dumps(_jsonable(document), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _standalone_html(html: str, assets: dict) -> str:
    """The report HTML for a browser: CSS inlined, figures read from the figures/ folder beside it."""
    css = assets.get("report.css", (b"", ""))[0].decode("utf-8")
    return (html.replace('<link rel="stylesheet" href="asset:report.css">', f"<style>\n{css}\n</style>")
            .replace('src="asset:figures/', 'src="figures/'))


def _write_atomically(out_dir: Path, outputs: dict[str, bytes]) -> list[Path]:
    """Write every output to a staging folder inside ``out_dir``, then move the set into place (rolled back on failure)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{out_dir}: -o: expected a folder that can be created, found {error.strerror}") from None
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: -o: expected a folder, found a file")
    try:
        staging = Path(tempfile.mkdtemp(prefix=".expert-staging-", dir=out_dir))
    except OSError as error:
        raise InputError(f"{out_dir}: -o: expected a writable folder, found {error.strerror}") from None
    try:
        for name, data in outputs.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        # move the set into place; on any failure put every earlier output back, so the folder holds
        # either the earlier outputs or the new ones, never a mix (a SIGKILL during these few renames
        # is the one case this cannot cover)
        moved: list[tuple[Path, Path | None]] = []
        try:
            for name in outputs:
                final = out_dir / name
                final.parent.mkdir(parents=True, exist_ok=True)
                backup = None
                if final.exists():
                    backup = staging / ".previous" / name
                    backup.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(final, backup)
                moved.append((final, backup))
                os.replace(staging / name, final)
        except BaseException:
            for final, backup in reversed(moved):
                try:
                    if backup is not None and backup.exists():
                        os.replace(backup, final)
                    elif backup is None and final.exists():
                        final.unlink()
                except OSError:
                    pass
            raise
        return [Path(name) for name in outputs]
    except OSError as error:
        raise ReportError(f"{out_dir}: could not write the outputs: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
