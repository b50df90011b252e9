"""The ``expert`` command line: parse, call one pipeline function, map errors to exit codes.

Exit codes: 0 success; 2 invalid input (case file, run table, options), with
every problem on its own line and no traceback; 1 internal error (a short
message; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import shlex
import sys
import time

import click

from . import __version__
from .errors import ExpertError

__all__ = ["cli"]


class _Progress:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            click.echo(f"[{time.perf_counter() - self.start:6.1f}s] {message}", err=True)


def _fail(error: Exception, debug: bool):
    if debug:
        raise error
    if isinstance(error, ExpertError):
        label = "invalid input" if error.exit_code == 2 else "error"
        click.echo(f"expert: {label}: {len(error.problems)} problem{'s' if len(error.problems) != 1 else ''}", err=True)
        for problem in error.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(error.exit_code)
    click.echo(f"expert: internal error: {type(error).__name__}: {error}. Run again with --debug for the traceback.",
               err=True)
    sys.exit(1)


def _formats(ctx, param, value):
    if value is None:
        return None
    items = [item.strip().lower() for item in value.split(",") if item.strip()]
    allowed = ("pdf", "html", "csv", "json")
    bad = [item for item in items if item not in allowed]
    if bad or not items:
        raise click.BadParameter(f"expected a comma-separated list of {', '.join(allowed)}, found {value!r}")
    return items


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="expert")
def cli():
    """Value AI training data from ablation evidence at several groupings, with honest uncertainty.

    A case file (YAML) names the works, the groupings of the works (per work,
    per publisher, per sector, ...) and the ablation evidence (a run table).
    `expert build` values every group at every grouping with crossed-bootstrap
    intervals and writes a PDF expert report with its data.
    """


@cli.command("build")
@click.argument("case_path", type=click.Path(dir_okay=False, path_type=str))
@click.option("-o", "--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False),
              help="Output folder; created if missing. Earlier outputs are replaced only when the build succeeds.")
@click.option("--format", "formats", callback=_formats, default=None, metavar="LIST",
              help="Comma-separated outputs among pdf,html,csv,json (default: the case's report.formats). "
                   "csv and json do not need the PDF renderer.")
@click.option("--resamples", type=click.IntRange(1, 1_000_000), default=None,
              help="Bootstrap replicates (overrides analysis.bootstrap.resamples; recorded in the report).")
@click.option("--seed", type=click.IntRange(0, None), default=None,
              help="Bootstrap seed (overrides analysis.bootstrap.seed; recorded in the report).")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def build_command(case_path, out_dir, formats, resamples, seed, quiet, debug):
    """Build the expert report and data outputs of CASE_PATH.

    Writes OUT/report.pdf, OUT/report.html, OUT/valuations.csv (grouping, group,
    method, benchmark, estimate, std_error, ci_low, ci_high, ...),
    OUT/analysis.json and OUT/figures/*.svg.
    """
    from .build import build

    progress = _Progress(quiet)
    command_line = "expert " + " ".join(shlex.quote(arg) for arg in sys.argv[1:]) if sys.argv[1:2] == ["build"] else None
    try:
        result = build(case_path, out_dir, formats, resamples=resamples, seed=seed, command_line=command_line,
                       progress=progress)
    except Exception as error:  # noqa: BLE001 - mapped to exit codes
        _fail(error, debug)
    for warning in result.warnings:
        progress(f"note: {warning}")
    for name in result.files:
        click.echo(str(result.out_dir / name))


@cli.command("validate")
@click.argument("case_path", type=click.Path(dir_okay=False, path_type=str))
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def validate_command(case_path, debug):
    """Check CASE_PATH and its run table; print what the evidence covers.

    Exit 0 when valid; exit 2 with every problem listed (file:line: field:
    expected ..., found ...) when not.
    """
    from .build import check
    from .design import make_design

    try:
        case, runs = check(case_path)
        design = make_design(case, runs)
    except Exception as error:  # noqa: BLE001
        _fail(error, debug)
    click.echo(f"{case.path.name}: valid")
    click.echo(f"  works: {len(case.works)}")
    nesting = {(finer, coarser): nests for finer, coarser, nests in case.nesting}
    for index, grouping in enumerate(case.groupings):
        coverage = design.of(grouping.name)
        line = f"  grouping {grouping.name}: {len(grouping.groups)} groups, leave-one-out evidence for {coverage.n_available}"
        if index + 1 < len(case.groupings):
            coarser = case.groupings[index + 1].name
            line += f"; {'nests in' if nesting[(grouping.name, coarser)] else 'does NOT nest in'} {coarser}"
        click.echo(line)
    click.echo(f"  run table: {runs.n_rows} rows, {runs.n_configurations} configurations, {len(runs.seeds)} seeds "
               f"({'matched' if runs.matched else 'unmatched'}), benchmarks: "
               + ", ".join(f"{name} ({len(items) if runs.has_items else 'no'} items)"
                           for name, items in zip(runs.benchmarks, runs.items)))
    if design.full is None:
        click.echo("  warning: no full model (a run with an empty `removed` cell): nothing can be valued", err=True)
    if design.unassigned:
        click.echo(f"  configurations that are not a leave-one-out of any group: {len(design.unassigned)}")


def main():  # pragma: no cover
    cli()
