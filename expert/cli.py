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
@click.option("--jobs", type=click.IntRange(-1, 256), default=1, show_default=True,
              help="Workers for a proxy experiment in the case (-1: one per CPU). The run table does not depend on it.")
@click.option("--backend", type=click.Choice(["loky", "ray", "dask"]), default="loky", show_default=True,
              help="joblib backend for a proxy experiment (ray and dask need the expert[ray] / expert[dask] extras).")
@click.option("--exhibits", is_flag=True,
              help="Also write each exhibit on its own: OUT/exhibits/exhibit-NN.pdf, .csv (its tables) and .svg (its chart).")
@click.option("--allow-outside-paths", is_flag=True,
              help="Let the case name files outside its own folder (refused by default: a case can come from the other side).")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def build_command(case_path, out_dir, formats, resamples, seed, jobs, backend, exhibits, allow_outside_paths, quiet,
                  debug):
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
                       progress=progress, allow_outside_paths=allow_outside_paths, exhibits=exhibits, jobs=jobs,
                       backend=backend)
    except Exception as error:  # noqa: BLE001 - mapped to exit codes
        _fail(error, debug)
    for warning in result.warnings:
        progress(f"note: {warning}")
    for name in result.files:
        click.echo(str(result.out_dir / name))


@cli.command("validate")
@click.argument("case_path", type=click.Path(dir_okay=False, path_type=str))
@click.option("--allow-outside-paths", is_flag=True, help="Let the case name files outside its own folder.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def validate_command(case_path, allow_outside_paths, debug):
    """Check CASE_PATH and its run table; print what the evidence covers.

    Exit 0 when valid; exit 2 with every problem listed (file:line: field:
    expected ..., found ...) when not.
    """
    from .build import check
    from .design import make_design

    try:
        case, runs = check(case_path, allow_outside_paths=allow_outside_paths)
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


@cli.command("ablate")
@click.argument("case_path", type=click.Path(dir_okay=False, path_type=str))
@click.option("--jobs", type=click.IntRange(-1, 256), default=1, show_default=True,
              help="Worker processes (-1: one per CPU). The run table is identical whatever the number.")
@click.option("--backend", type=click.Choice(["loky", "ray", "dask"]), default="loky", show_default=True,
              help="joblib backend: local processes, or a Ray or Dask cluster (extras expert[ray], expert[dask]).")
@click.option("--refresh", is_flag=True, help="Recompute the cached run table (finished configurations are still reused).")
@click.option("--allow-outside-paths", is_flag=True, help="Let the case name files outside its own folder.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def ablate_command(case_path, jobs, backend, refresh, allow_outside_paths, quiet, debug):
    """Run the proxy ablation experiment of CASE_PATH (evidence.experiment) and cache its run table.

    Trains a smoothed word n-gram model for every configuration of the design on
    every seed (a seeded random subsample of each work's sentences), scores the
    held-out benchmark passages, and stores an ordinary run table (Parquet) in the
    case folder's .expert-cache, keyed by a hash of corpus, benchmark, model, seeds
    and design. `expert build` reuses it; only missing configurations are computed.
    """
    from .case import load_case
    from .errors import CaseError
    from .experiment import cached_run_table

    progress = _Progress(quiet)
    try:
        case = load_case(case_path, allow_outside_paths=allow_outside_paths)
        if case.evidence.experiment is None:
            raise CaseError(f"{case.path.name}: evidence.experiment: expected an experiment block to run, found none")
        result = cached_run_table(case.directory, case.works, {g.name: g for g in case.groupings},
                                  case.evidence.experiment, jobs=jobs, backend=backend, progress=progress,
                                  refresh=refresh)
    except Exception as error:  # noqa: BLE001
        _fail(error, debug)
    click.echo(f"{result.path}")
    click.echo(f"  {result.n_configurations} configurations x {result.n_seeds} seeds x {result.n_items} items; "
               f"{'cache hit' if result.cache_hit else f'{result.n_computed} computed, {result.n_reused} reused'}")


@cli.command("plan")
@click.argument("case_path", type=click.Path(dir_okay=False, path_type=str))
@click.option("--target", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Target minimum detectable effect, in the run table's score units (0.0006 = 0.06 points of a "
                   "0-1 accuracy).")
@click.option("--seed-sd", type=click.FloatRange(min=0), default=None,
              help="Without evidence: SD across seeds of a model's benchmark mean (score units).")
@click.option("--item-sd", type=click.FloatRange(min=0), default=None,
              help="Without evidence: SD over items of the paired score difference (score units).")
@click.option("--items", "n_items", type=click.IntRange(1, None), default=None, help="Without evidence: items per benchmark.")
@click.option("--seeds", "n_seeds", type=click.IntRange(1, None), default=None,
              help="Seeds per configuration for the run counts (default: the evidence's, or 5).")
@click.option("--max-exact", type=click.IntRange(1, 20), default=12, show_default=True,
              help="Largest number of groups for which all 2^k coalitions are proposed; above it, a sampled design.")
@click.option("--sampling-seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="Seed of the generator that draws sampled designs (recorded in the CSV).")
@click.option("-o", "--out", "out_path", default="plan.csv", show_default=True, type=click.Path(dir_okay=False),
              help="CSV of the configurations to train (one row each, with its `removed` keys and seeds).")
@click.option("--allow-outside-paths", is_flag=True, help="Let the case name files outside its own folder.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def plan_command(case_path, target, seed_sd, item_sd, n_items, n_seeds, max_exact, sampling_seed, out_path,
                 allow_outside_paths, debug):
    """Which configurations and how many seeds the case's questions need.

    For each requested method and grouping: the configurations it needs (exact
    when affordable, otherwise a sampled design), which the run table already
    has, and the training runs missing. From the observed seed and item variance
    (or --seed-sd/--item-sd/--items when there is no evidence yet): the seeds per
    configuration for a --target minimum detectable effect, and the item floor
    below which no number of seeds suffices.
    """
    from .build import plan_case

    try:
        result = plan_case(case_path, target=target, seed_sd=seed_sd, item_sd=item_sd, n_items=n_items,
                           n_seeds=n_seeds, max_exact=max_exact, sampling_seed=sampling_seed, out_path=out_path,
                           allow_outside_paths=allow_outside_paths)
    except Exception as error:  # noqa: BLE001
        _fail(error, debug)
    click.echo(_table(result.requirements, ["method", "grouping", "design", "configurations", "present", "missing",
                                            "runs_to_train"]))
    if len(result.seeds):
        click.echo("")
        click.echo(_table(result.seeds, ["grouping", "benchmark", "current_seeds", "current_mde", "target_mde",
                                         "seeds_needed", "item_floor"]))
        if (result.seeds["seeds_needed"] == float("inf")).any():
            click.echo("seeds_needed = inf: the target is at or below the item floor; no number of seeds suffices, "
                       "more benchmark items are needed.")
    missing = result.configurations[~result.configurations["present"]]
    click.echo(f"\n{len(missing)} configurations to train ({len(missing) * result.n_seeds} runs at {result.n_seeds} "
               f"seeds each) written to {out_path}")


@cli.command("compare")
@click.argument("case_path", type=click.Path(dir_okay=False, path_type=str))
@click.option("--scenario", "names", multiple=True, help="A scenario of the case (repeatable; default: all).")
@click.option("-o", "--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False),
              help="Folder for compare.csv and compare.xlsx.")
@click.option("--top", type=click.IntRange(1, None), default=15, show_default=True,
              help="Claimants shown on the terminal (all are in the files).")
@click.option("--resamples", type=click.IntRange(1, 1_000_000), default=None, help="Bootstrap replicates (override).")
@click.option("--allow-outside-paths", is_flag=True, help="Let the case name files outside its own folder.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def compare_command(case_path, names, out_dir, top, resamples, allow_outside_paths, debug):
    """What each claimant receives under each scenario, side by side, with intervals.

    Prints claimants (largest first under the first scenario), totals and the ratio of each
    scenario to the first; writes OUT/compare.csv and OUT/compare.xlsx with every claimant.
    """
    from .build import compare_case

    try:
        allocations, table = compare_case(case_path, list(names) or None, out_dir, resamples=resamples,
                                          allow_outside_paths=allow_outside_paths, progress=_Progress(True))
    except Exception as error:  # noqa: BLE001
        _fail(error, debug)
    for name, result in allocations.items():
        if not hasattr(result, "claimants"):
            click.echo(f"scenario {name!r}: not available: {result.reason}")
    available = [name for name, result in allocations.items() if hasattr(result, "claimants")]
    if not available:
        sys.exit(0)
    currency = allocations[available[0]].currency
    first = f"{available[0]}: amount"
    body = table[table["class"] != "TOTAL"].sort_values(first, ascending=False).head(top)
    rows = [r for _, r in body.iterrows()] + [r for _, r in table[table["class"] == "TOTAL"].iterrows()]
    columns = ["class", "claimant"] + [f"{name} ({currency} m)" for name in available]
    cells = []
    for row in rows:
        line = [str(row["class"]), str(row["claimant"])]
        for name in available:
            ratio = "" if name == available[0] else f"  x{row.get(f'{name}: ratio to {available[0]}', float('nan')):.2f}"
            line.append(f"{row[f'{name}: amount'] / 1e6:,.1f} [{row[f'{name}: low'] / 1e6:,.1f}, "
                        f"{row[f'{name}: high'] / 1e6:,.1f}]{ratio}")
        cells.append(line)
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    click.echo("  ".join("-" * w for w in widths))
    for line in cells:
        click.echo("  ".join(value.rjust(w) if i >= 2 else value.ljust(w) for i, (value, w) in enumerate(zip(line, widths))))
    click.echo(f"\n{len(table) - 1} claimant rows; written to {out_dir}/compare.csv and {out_dir}/compare.xlsx. "
               f"Brackets: {allocations[available[0]].confidence * 100:g}% percentile intervals over bootstrap replicates; "
               f"xN: ratio to {available[0]!r}.")
    for name in available:
        for flag in allocations[name].flags:
            click.echo(f"  {name}: {flag}")


def _table(frame, columns) -> str:
    """An aligned text table."""
    def cell(value):
        if isinstance(value, float):
            return "inf" if value == float("inf") else ("" if value != value else f"{value:.4g}")
        return str(value)

    rows = [[cell(value) for value in record] for record in frame[columns].itertuples(index=False)]
    widths = [max([len(column)] + [len(row[i]) for row in rows]) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.ljust(width) for value, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def main():  # pragma: no cover
    cli()
