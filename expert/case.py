"""The case file: its schema and :func:`load_case`.

A case file (YAML, one per matter) declares the matter, the works, the
groupings of the works that the report contrasts, the evidence, the analysis
settings and the report settings (DESIGN.md "Case file"). :func:`load_case`
validates all of it at once and raises one :class:`~expert.errors.CaseError`
listing every problem as ``file:line: key.path: expected ..., found ...``.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import hashlib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from ._files import sha256_of
from ._yaml import LocatedYaml, format_path, load_yaml
from .errors import CaseError
from .experiment.spec import ExperimentSpec, check_experiment

__all__ = [
    "Case",
    "ClaimantClass",
    "Grouping",
    "InputFile",
    "Matter",
    "Expert",
    "EvidenceSpec",
    "AnalysisSpec",
    "BootstrapSpec",
    "ReportSpec",
    "load_case",
    "sha256_of",
]

REPORT_FORMATS = ("pdf", "html", "csv", "json")
METHODS = ("loo",)


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expert(_Schema):
    """The testifying expert (FRCP 26(a)(2)(B)); every field optional."""

    name: str | None = None
    title: str | None = None
    affiliation: str | None = None
    qualifications: str | None = None
    publications: list[str] = Field(default_factory=list, description="Publications of the last 10 years.")
    prior_testimony: list[str] = Field(default_factory=list, description="Testimony of the last 4 years.")
    compensation: str | None = None


class Matter(_Schema):
    """The matter: `title` and `date` are required; the report says "not provided" for the rest."""

    title: Annotated[str, Field(min_length=1)]
    date: _dt.date
    caption: str | None = None
    court: str | None = None
    docket: str | None = None
    confidentiality: str | None = None
    expert: Expert = Field(default_factory=Expert)
    assignment: str | None = None
    assumptions_from_counsel: list[str] = Field(default_factory=list)


class GroupingSpec(_Schema):
    """A grouping: by a works column (`by`) or by explicit lists (`groups`, with `rest`)."""

    by: str | None = None
    groups: dict[str, list[str] | Literal["rest"]] | None = None


class EvidenceSpec(_Schema):
    """Where the ablation evidence is: a run table, a proxy experiment, or both (pooled)."""

    runs: str | None = Field(None, description="Run table (CSV or Parquet), relative to the case file.")
    experiment: ExperimentSpec | None = Field(None, description="A proxy ablation experiment run by expert itself.")
    simulated: bool = Field(False, description="True when the runs are simulated for illustration.")
    description: str | None = Field(None, description="What the runs are, printed in the report.")


class BootstrapSpec(_Schema):
    """Crossed bootstrap settings (METHODS.md B2-B3)."""

    resamples: Annotated[int, Field(ge=1, le=1_000_000)] = 9999
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    interval: Literal["bca", "percentile"] = "bca"
    seed: Annotated[int, Field(ge=0)] = 20240601


class SamplingSpec(_Schema):
    """A sampled design for a grouping with too many groups for all 2^k coalitions."""

    design: Literal["msr", "permutations"] = Field(description="msr: Bernoulli(1/2) coalitions (Banzhaf); "
                                                               "permutations: random orders (Shapley).")
    seed: Annotated[int, Field(ge=0)] = 0
    samples: Annotated[int, Field(ge=2, le=100_000)] | None = None


class AnalysisSpec(_Schema):
    """Which valuations to compute and how to measure their uncertainty."""

    methods: list[str] = Field(default_factory=lambda: ["loo"],
                               description="Any of loo, shapley, banzhaf, beta(ALPHA,BETA), owen, least_core.")
    owen_split: str = Field("equal", description="How Owen totals are split where within-group coalitions are not "
                                                 "observed: equal, tokens, or a numeric works column.")
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    power: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.8
    sampling: dict[str, SamplingSpec] = Field(default_factory=dict, description="Grouping -> sampled design used "
                                              "when the evidence lacks some of its 2^k coalitions.")
    equivalence_margin: Annotated[float, Field(gt=0, allow_inf_nan=False)] | dict[
        str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] | None = Field(
        None, description="Pre-specified equivalence margin epsilon in score units (global, or per benchmark with "
                          "'all' for the macro average): a value is called negligible only when TOST shows |value| < epsilon.")

    @pydantic.field_validator("methods")
    @classmethod
    def _methods_iv(cls, value):
        from .valuation.coalitions import parse_method

        labels = []
        for item in value:
            try:
                labels.append(parse_method(item).label)
            except ValueError as error:
                hint = ("; in a [..] list the comma splits beta(16,1): quote it as 'beta(16,1)'"
                        if str(item).strip().startswith("beta(") and ")" not in str(item) else "")
                raise ValueError(f"{error} (found {item!r}{hint})") from None
        if not labels:
            raise ValueError("at least one method")
        return list(dict.fromkeys(labels))


class BatesSpec(_Schema):
    """Bates numbering printed in the lower-right corner of every page."""

    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{0,20}$")] = ""
    start: Annotated[int, Field(ge=0, le=10**9)] = 1
    digits: Annotated[int, Field(ge=1, le=10)] = 6


class ReportSpec(_Schema):
    """What to write and how the report looks."""

    formats: list[Literal["pdf", "html", "csv", "json"]] = Field(default_factory=lambda: list(REPORT_FORMATS))
    top_rows: Annotated[int, Field(ge=1, le=500)] = 25
    template_dir: str | None = None
    page_size: Literal["letter", "a4"] = "letter"
    bates: BatesSpec | None = None
    attach_limit_mb: Annotated[float, Field(ge=0, le=2000)] = 25.0


class RightsSpec(_Schema):
    """A class of claimants (authors, publishers, ...): who holds each work, and what share of it."""

    by: str | None = Field(None, description="Works column naming each work's claimant in this class.")
    members: dict[str, list[str]] | None = Field(None, description="Or explicit lists: claimant -> work ids.")
    share: float | str = Field(1.0, description="Share of each work held by this class: a number in [0, 1] or a "
                                                "works column with per-work shares.")


class ClaimantsSpec(_Schema):
    """Rights holders: classes that hold shares of works, and collectives that represent claimants."""

    rights: dict[str, RightsSpec]
    collectives: dict[str, dict[str, list[str]]] = Field(default_factory=dict, description="Collective -> "
                                                         "{class: [claimants it represents]}.")


class PoolSpec(_Schema):
    """What is allocated: a fixed pool (amount) or a rate per point of benchmark score."""

    amount: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(None, description="Currency per point "
                                                                            "(score x 100) of value.")
    currency: Annotated[str, Field(min_length=1, max_length=8)] = "USD"


class ScenarioSpec(_Schema):
    """A bargaining structure counsel compares: grouping x method x pool x split."""

    grouping: str
    method: str = "shapley"
    pool: PoolSpec
    split: str = Field("tokens", description="How a group's amount is split among its works: equal, tokens or a "
                                             "numeric works column.")
    description: str | None = None


class CaseSchema(_Schema):
    """The whole case file."""

    matter: Matter
    works: str | list[dict[str, typing.Any]]
    groupings: dict[str, GroupingSpec]
    evidence: EvidenceSpec
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)
    claimants: ClaimantsSpec | None = None
    scenarios: dict[str, ScenarioSpec] = Field(default_factory=dict)
    report: ReportSpec = Field(default_factory=ReportSpec)


@dataclass(frozen=True)
class InputFile:
    """A file the case relies on, for the materials-considered list and the manifest."""

    role: str
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Grouping:
    """A named partition of the works.

    Attributes
    ----------
    name : str
        The grouping's name in the case (e.g. ``publisher``).
    groups : tuple of str
        Group names, in order of first appearance in the works table.
    membership : ndarray of int, shape (n_works,)
        Index into ``groups`` of each work's group.
    by : str or None
        The works column that defines the grouping, or None for explicit lists.
    """

    name: str
    groups: tuple[str, ...]
    membership: np.ndarray = field(repr=False)
    by: str | None = None

    def members(self, group: str | int) -> np.ndarray:
        """Indices of the works in ``group`` (a name or an index)."""
        index = self.groups.index(group) if isinstance(group, str) else int(group)
        return np.flatnonzero(self.membership == index)

    @property
    def sizes(self) -> np.ndarray:
        """Number of works in each group."""
        return np.bincount(self.membership, minlength=len(self.groups))

    @property
    def is_singletons(self) -> bool:
        """True when every group holds exactly one work (a per-work grouping)."""
        return bool(np.all(self.sizes == 1))


@dataclass(frozen=True)
class Case:
    """A validated case.

    Attributes
    ----------
    path : Path
        The case file.
    matter, evidence, analysis, report
        The validated sections of the case file.
    works : pandas.DataFrame
        One row per work; column ``id`` (str) plus every other column given.
    groupings : tuple of Grouping
        In the order of the case file (finest first).
    nesting : tuple of (str, str, bool)
        For each pair of successive groupings (finer, coarser): whether every
        finer group lies inside one coarser group.
    inputs : tuple of InputFile
        The case file and every file it names, with SHA-256.
    """

    path: Path
    matter: Matter
    works: pd.DataFrame = field(repr=False)
    groupings: tuple[Grouping, ...]
    nesting: tuple[tuple[str, str, bool], ...]
    evidence: EvidenceSpec
    analysis: AnalysisSpec
    report: ReportSpec
    inputs: tuple[InputFile, ...]
    claimants: tuple = ()
    """Claimant classes as :class:`ClaimantClass` (empty when the case declares none)."""
    collectives: dict = field(default_factory=dict)
    """Collective name -> tuple of (class, claimant) it represents."""
    scenarios: dict = field(default_factory=dict)
    """Scenario name -> :class:`ScenarioSpec`, in case order."""

    @property
    def directory(self) -> Path:
        """The folder that paths in the case are relative to."""
        return self.path.parent

    @property
    def work_ids(self) -> tuple[str, ...]:
        return tuple(self.works["id"])

    def grouping(self, name: str) -> Grouping:
        """The grouping called ``name``."""
        for grouping in self.groupings:
            if grouping.name == name:
                return grouping
        raise KeyError(name)

    def resolve(self, relative: str) -> Path:
        """A path named in the case, relative to the case file."""
        return (self.directory / relative).resolve()


def load_case(path: str | Path, require_runs: bool = True, allow_outside_paths: bool = False) -> Case:
    """Read and validate a case file.

    Parameters
    ----------
    path : str or Path
        The case file (YAML).
    require_runs : bool
        When False, a run table that does not exist yet is not an error
        (``expert plan`` designs the experiment before there is evidence).
    allow_outside_paths : bool
        When False (the default), every path the case names must stay inside the
        case file's folder: a case file can come from the other side.

    Returns
    -------
    Case

    Raises
    ------
    CaseError
        Listing every problem found, each as ``file:line: key.path: expected ..., found ...``.
    """
    path = Path(path)
    source = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CaseError(f"{path}: expected a case file, found no such file") from None
    except IsADirectoryError:
        raise CaseError(f"{path}: expected a case file, found a folder") from None
    except OSError as error:
        raise CaseError(f"{path}: expected a readable case file, found {error.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CaseError(f"{source}:{line}: (document): expected UTF-8 text, found byte 0x{raw[error.start]:02x}") from None
    try:
        located = load_yaml(text, source)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        problem = (error.problem or str(error)).strip()
        if "\t" in text.splitlines()[line - 1] if len(text.splitlines()) >= line else False:
            problem += " (tabs are not allowed for indentation in YAML; use spaces)"
        raise CaseError(f"{source}:{line}: (document): expected valid YAML, found a syntax error: {problem}") from None
    except yaml.YAMLError as error:
        raise CaseError(f"{source}:1: (document): expected valid YAML, found {error}") from None

    problems = list(located.problems)
    if not isinstance(located.data, dict):
        if not problems:  # a document refused while loading is already reported; do not call it empty too
            found = "an empty file" if located.data is None else f"a {type(located.data).__name__}"
            problems.append(f"{source}:1: (document): expected a mapping with matter, works, groupings, evidence; "
                            f"found {found}")
        raise CaseError(problems)

    schema = None
    try:
        schema = CaseSchema.model_validate(located.data)
    except pydantic.ValidationError as error:
        # a value the YAML loader already refused (e.g. a forbidden tag) is None here: report it once
        reported = {problem.split(": expected", 1)[0] for problem in problems}
        problems.extend(problem for problem in _schema_problems(error, located, source)
                        if problem.split(": expected", 1)[0] not in reported)
    if problems or schema is None:
        raise CaseError(problems)

    directory = path.resolve().parent
    if not allow_outside_paths:
        for key_path, relative in _named_paths(schema):
            target = (directory / relative).resolve()
            if target != directory and directory not in target.parents:
                problems.append(f"{source}:{located.line_of(key_path)}: {format_path(key_path)}: expected a path inside "
                                f"the case folder {directory}, found {relative!r} (use --allow-outside-paths to allow it)")
        if problems:
            raise CaseError(problems)
    inputs = [InputFile("case file", path.resolve(), hashlib.sha256(raw).hexdigest(), len(raw))]
    works, row_of = _load_works(schema, located, source, directory, inputs, problems)
    groupings: list[Grouping] = []
    if works is not None:
        for name, spec in schema.groupings.items():
            grouping = _build_grouping(name, spec, works, row_of, located, source, problems)
            if grouping is not None:
                groupings.append(grouping)
    if not schema.groupings:
        problems.append(f"{source}:{located.line_of(('groupings',))}: groupings: expected at least one grouping, found none")

    if schema.evidence.runs is None and schema.evidence.experiment is None:
        problems.append(f"{source}:{located.line_of(('evidence',))}: evidence: expected `runs` (a run table), "
                        f"`experiment` (a proxy experiment) or both, found neither")
    if schema.evidence.experiment is not None and works is not None and not problems:
        for problem in check_experiment(directory, works, {g.name: g for g in groupings}, schema.evidence.experiment):
            problems.append(f"{source}:{located.line_of(problem.loc)}: {problem}")
    runs_path = (directory / schema.evidence.runs).resolve() if schema.evidence.runs is not None else None
    line = located.line_of(("evidence", "runs"))
    if runs_path is None:
        pass
    elif not runs_path.exists() and not require_runs:
        pass
    elif not runs_path.is_file():
        found = "a folder" if runs_path.is_dir() else "no such file"
        problems.append(f"{source}:{line}: evidence.runs: expected a run table file, found {found} ({schema.evidence.runs})")
    elif runs_path.suffix.lower() not in (".csv", ".parquet", ".pq", ".gz") or (
        runs_path.suffix.lower() == ".gz" and not runs_path.name.lower().endswith(".csv.gz")
    ):
        problems.append(
            f"{source}:{line}: evidence.runs: expected a .csv, .csv.gz or .parquet file, found {runs_path.name!r}"
        )
    else:
        inputs.append(InputFile("run table", runs_path, sha256_of(runs_path), runs_path.stat().st_size))

    names = [grouping.name for grouping in groupings]
    for grouping_name in schema.analysis.sampling:
        if works is not None and grouping_name not in names and grouping_name not in schema.groupings:
            hint = difflib.get_close_matches(grouping_name, list(schema.groupings), n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.append(f"{source}:{located.key_lines.get(('analysis', 'sampling', grouping_name), located.line_of(('analysis', 'sampling')))}: "
                            f"analysis.sampling.{grouping_name}: expected a grouping of the case "
                            f"({', '.join(schema.groupings)}), found {grouping_name!r}{suggestion}")
    split = schema.analysis.owen_split
    if works is not None and split != "equal":
        column = "tokens" if split == "tokens" else split
        line = located.line_of(("analysis", "owen_split"))
        if column not in works.columns:
            problems.append(f"{source}:{line}: analysis.owen_split: expected equal, tokens or a numeric works column "
                            f"({', '.join(works.columns)}), found {split!r}")
        else:
            numbers = pd.to_numeric(works[column], errors="coerce")
            bad = np.flatnonzero(~np.isfinite(numbers.to_numpy(dtype=float)) | (numbers.to_numpy(dtype=float) < 0))
            for index in bad[:20]:
                problems.append(f"{row_of(index)}: {column}: expected a non-negative number (analysis.owen_split), "
                                f"found {works[column].iloc[index]!r}")
    if schema.report.template_dir is not None:
        template_dir = (directory / schema.report.template_dir).resolve()
        if not template_dir.is_dir():
            problems.append(
                f"{source}:{located.line_of(('report', 'template_dir'))}: report.template_dir: "
                f"expected a folder of templates, found {'a file' if template_dir.exists() else 'no such folder'} "
                f"({schema.report.template_dir})"
            )
    if problems:
        raise CaseError(problems)

    claimants, collectives = (), {}
    if schema.claimants is not None and works is not None:
        claimants, collectives = _build_claimants(schema.claimants, works, row_of, located, source, problems)
    for name, scenario in schema.scenarios.items():
        where = f"{source}:{located.line_of(('scenarios', name))}: scenarios.{name}"

        def at(field_name, _name=name):
            return f"{source}:{located.line_of(('scenarios', _name, field_name))}: scenarios.{_name}.{field_name}"
        if scenario.grouping not in names:
            problems.append(f"{at('grouping')}: expected a grouping of the case ({', '.join(names)}), "
                            f"found {scenario.grouping!r}")
        try:
            from .valuation.coalitions import parse_method

            if parse_method(scenario.method).name == "least_core":
                raise ValueError("a method with point values (loo, shapley, banzhaf, beta(a,b), owen)")
        except ValueError as error:
            problems.append(f"{at('method')}: expected {error}, found {scenario.method!r}")
        if (scenario.pool.amount is None) == (scenario.pool.rate is None):
            problems.append(f"{at('pool')}: expected exactly one of `amount` (a pool to allocate) or `rate` "
                            f"(currency per point of value), found {'both' if scenario.pool.amount else 'neither'}")
        if works is not None and scenario.split not in ("equal", "tokens") and scenario.split not in works.columns:
            problems.append(f"{at('split')}: expected equal, tokens or a works column, found {scenario.split!r}")
        if works is not None and scenario.split == "tokens" and "tokens" not in works.columns:
            problems.append(f"{at('split')}: expected a `tokens` column in the works table for split: tokens, found none")
        if schema.claimants is None:
            problems.append(f"{where}: expected a `claimants` section naming who holds the works, found none")
    if problems:
        raise CaseError(problems)

    nesting = tuple(
        (finer.name, coarser.name, _nests(finer, coarser)) for finer, coarser in zip(groupings, groupings[1:])
    )
    return Case(
        path=path.resolve(),
        matter=schema.matter,
        works=works,
        groupings=tuple(groupings),
        nesting=nesting,
        evidence=schema.evidence,
        analysis=schema.analysis,
        report=schema.report,
        inputs=tuple(inputs),
        claimants=claimants,
        collectives=collectives,
        scenarios=dict(schema.scenarios),
    )


@dataclass(frozen=True)
class ClaimantClass:
    """A class of claimants and the share of each work each claimant holds.

    Attributes
    ----------
    name : str
        The class (e.g. ``author``).
    claimants : tuple of str
    holdings : scipy.sparse.csr_array, shape (n_works, n_claimants)
        Share of each work held by each claimant of the class (a row sums to the class's share of that work,
        or 0 when the work has no claimant in this class).
    """

    name: str
    claimants: tuple[str, ...]
    holdings: object = field(repr=False)


def _build_claimants(spec: "ClaimantsSpec", works: pd.DataFrame, row_of, located, source, problems):
    import scipy.sparse as sp

    ids = list(works["id"])
    position = {work: index for index, work in enumerate(ids)}
    total = np.zeros(len(ids))
    classes = []
    for name, rights in spec.rights.items():
        where = f"{source}:{located.line_of(('claimants', 'rights', name))}: claimants.rights.{name}"
        if (rights.by is None) == (rights.members is None):
            problems.append(f"{where}: expected exactly one of `by` (a works column) or `members` (explicit lists), "
                            f"found {'both' if rights.by is not None else 'neither'}")
            continue
        if isinstance(rights.share, str):
            if rights.share not in works.columns:
                problems.append(f"{where}.share: expected a number in [0, 1] or a works column, found {rights.share!r}")
                continue
            shares = pd.to_numeric(works[rights.share], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(shares) | (shares < 0) | (shares > 1))
            for index in bad[:20]:
                problems.append(f"{row_of(index)}: {rights.share}: expected a share in [0, 1], found "
                                f"{works[rights.share].iloc[index]!r}")
            if len(bad):
                continue
        else:
            if not 0 <= rights.share <= 1:
                problems.append(f"{where}.share: expected a number in [0, 1], found {rights.share!r}")
                continue
            shares = np.full(len(ids), float(rights.share))
        owner = np.full(len(ids), -1, dtype=np.int64)
        if rights.by is not None:
            if rights.by not in works.columns:
                problems.append(f"{where}.by: expected a works column ({', '.join(works.columns)}), found {rights.by!r}")
                continue
            values = works[rights.by].astype(str).str.strip()
            codes, uniques = pd.factorize(values.where(values != "", None), sort=False)
            claimants = [str(u) for u in uniques]
            owner = codes.astype(np.int64)
        else:
            claimants = list(rights.members)
            for claimant, members in rights.members.items():
                for work in members:
                    if work not in position:
                        problems.append(f"{source}:{located.line_of(('claimants', 'rights', name, 'members', claimant))}: "
                                        f"claimants.rights.{name}.members.{claimant}: expected a work id, found {work!r}")
                    elif owner[position[work]] >= 0:
                        problems.append(f"{source}:{located.line_of(('claimants', 'rights', name, 'members', claimant))}: "
                                        f"claimants.rights.{name}.members.{claimant}: expected each work held by one "
                                        f"{name}, found {work!r} also held by {claimants[owner[position[work]]]!r}")
                    else:
                        owner[position[work]] = claimants.index(claimant)
        held = owner >= 0
        total += shares  # declared shares must sum to 1; a share without a claimant is reported as unclaimed
        holdings = sp.csr_array((shares[held], (np.flatnonzero(held), owner[held])), shape=(len(ids), len(claimants)))
        classes.append(ClaimantClass(name, tuple(claimants), holdings))
    if not problems:
        wrong = np.flatnonzero(np.abs(total - 1) > 1e-9)
        for index in wrong[:20]:
            problems.append(f"{row_of(index)}: id: expected the shares of work {ids[index]!r} to sum to 1 over "
                            f"{', '.join(spec.rights)}, found {total[index]:g}")
        if len(wrong) > 20:
            problems.append(f"{source}: claimants: ... and {len(wrong) - 20} more works whose shares do not sum to 1")
    collectives = {}
    lookup = {c.name: c for c in classes}
    for collective, members in spec.collectives.items():
        resolved = []
        for class_name, names in members.items():
            where = f"{source}:{located.line_of(('claimants', 'collectives', collective, class_name))}: " \
                    f"claimants.collectives.{collective}.{class_name}"
            if class_name not in lookup:
                problems.append(f"{where}: expected a claimant class ({', '.join(lookup)}), found {class_name!r}")
                continue
            for claimant in names:
                if claimant not in lookup[class_name].claimants:
                    hint = difflib.get_close_matches(claimant, lookup[class_name].claimants, n=1)
                    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                    problems.append(f"{where}: expected a claimant of class {class_name!r}, found {claimant!r}{suggestion}")
                else:
                    resolved.append((class_name, claimant))
        collectives[collective] = tuple(resolved)
    return tuple(classes), collectives


def _named_paths(schema: "CaseSchema"):
    """(key path, relative path) of every file or folder the case names."""
    if isinstance(schema.works, str):
        yield ("works",), schema.works
    if schema.evidence.runs is not None:
        yield ("evidence", "runs"), schema.evidence.runs
    if schema.report.template_dir is not None:
        yield ("report", "template_dir"), schema.report.template_dir


# ----------------------------------------------------------------------------- schema messages


def _schema_problems(error: pydantic.ValidationError, located: LocatedYaml, source: str) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        loc = _clean_loc(item["loc"])
        kind = item["type"]
        line = located.line_of(loc)
        where = format_path(loc)
        found = item.get("input")
        if kind == "extra_forbidden":
            key = loc[-1]
            line = located.key_lines.get(tuple(loc), line)  # the unknown key's own line
            choices = _allowed_keys(loc[:-1])
            hint = difflib.get_close_matches(str(key), choices, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            allowed = ", ".join(choices)
            problems.append(f"{source}:{line}: {where}: expected one of the keys {allowed}, found unknown key {key!r}{suggestion}")
            continue
        if kind == "missing":
            problems.append(f"{source}:{line}: {where}: expected a value (required), found nothing")
            continue
        message = item["msg"]
        for prefix in ("Value error, ",):
            if message.startswith(prefix):
                message = message[len(prefix):]
        # pydantic says "<Input|String|List|Value> should be X" / "should have X": keep the requirement
        message = re.sub(r"^\w+ should be ", "", message)
        message = re.sub(r"^\w+ should have ", "a value with ", message)
        problems.append(f"{source}:{line}: {where}: expected {message}, found {_show(found)}")
    # one message per location: unions produce one per branch
    unique: dict[str, str] = {}
    for problem in problems:
        head = problem.split(": expected", 1)[0]
        unique.setdefault(head, problem)
    return list(unique.values())


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's union-branch markers from a location."""
    cleaned = []
    for part in loc:
        if isinstance(part, str) and (
            part.startswith(("list[", "dict[", "literal[", "function-", "constrained-", "union[", "tagged-union["))
            or part in ("str", "int", "float", "bool", "none")
        ):
            continue
        cleaned.append(part)
    return tuple(cleaned)


def _allowed_keys(loc: tuple) -> list[str]:
    model: typing.Any = CaseSchema
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(model, type) and issubclass(model, BaseModel):
            info = model.model_fields.get(part)
            model = _model_in(info.annotation) if info else None
        elif typing.get_origin(model) is dict:
            model = _model_in(typing.get_args(model)[1])
        else:
            return []
        if model is None:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_in(annotation):
    """The BaseModel (or dict of one) inside an annotation such as ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is dict:
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _show(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ----------------------------------------------------------------------------- works and groupings


def _load_works(schema, located, source, directory, inputs, problems):
    """The works table and a function giving ``file:line`` of a row, or (None, None)."""
    line = located.line_of(("works",))
    if isinstance(schema.works, str):
        works_path = (directory / schema.works).resolve()
        name = schema.works
        if not works_path.is_file():
            found = "a folder" if works_path.is_dir() else "no such file"
            problems.append(f"{source}:{line}: works: expected a CSV file of works, found {found} ({schema.works})")
            return None, None
        raw = works_path.read_bytes()
        inputs.append(InputFile("works table", works_path, hashlib.sha256(raw).hexdigest(), len(raw)))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            row = raw[: error.start].count(b"\n") + 1
            problems.append(f"{name}:{row}: (file): expected UTF-8 text, found byte 0x{raw[error.start]:02x}")
            return None, None
        import io

        try:
            works = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=False)
        except pd.errors.EmptyDataError:
            problems.append(f"{name}:1: (file): expected a header row with an `id` column, found an empty file")
            return None, None
        except pd.errors.ParserError as error:
            bad_line = re.search(r"line (\d+)", str(error))
            bad_row = re.search(r"row (\d+)", str(error))  # e.g. an unclosed quote: 0-based from the header
            line_number = bad_line.group(1) if bad_line else (int(bad_row.group(1)) + 1 if bad_row else 1)
            problems.append(f"{name}:{line_number}: (file): expected a well-formed CSV, "
                            f"found: {str(error).strip()}")
            return None, None
        row_of = lambda i: f"{name}:{i + 2}"  # noqa: E731  header is line 1
    else:
        name = source
        records = []
        for index, record in enumerate(schema.works):
            records.append({key: ("" if value is None else str(value)) for key, value in record.items()})
        works = pd.DataFrame.from_records(records) if records else pd.DataFrame({"id": []}, dtype=str)
        row_of = lambda i: f"{source}:{located.line_of(('works', i))}"  # noqa: E731

    works.columns = [str(column).strip() for column in works.columns]
    if "id" not in works.columns:
        where = f"{name}:1" if isinstance(schema.works, str) else f"{source}:{line}"
        problems.append(f"{where}: id: expected a column `id`, found columns {list(works.columns)}")
        return None, None
    if len(works) == 0:
        where = f"{name}:2" if isinstance(schema.works, str) else f"{source}:{line}"
        problems.append(f"{where}: works: expected at least one work, found none")
        return None, None
    ids = works["id"].astype(str).str.strip()
    works["id"] = ids
    first_row: dict[str, int] = {}
    for index, value in enumerate(ids):
        if value == "":
            problems.append(f"{row_of(index)}: id: expected a work id, found an empty cell")
        elif value in first_row:
            problems.append(
                f"{row_of(index)}: id: expected a unique work id, found {value!r} again (first at {row_of(first_row[value])})"
            )
        else:
            first_row[value] = index
    return works.reset_index(drop=True), row_of


def _build_grouping(name, spec: GroupingSpec, works: pd.DataFrame, row_of, located, source, problems) -> Grouping | None:
    line = located.line_of(("groupings", name))
    where = f"{source}:{line}: groupings.{name}"
    if ":" in name or ";" in name or not name.strip():
        problems.append(f"{where}: expected a grouping name without ':' or ';', found {name!r}")
        return None
    if (spec.by is None) == (spec.groups is None):
        problems.append(f"{where}: expected exactly one of `by` (a works column) or `groups` (explicit lists), found "
                        f"{'both' if spec.by is not None else 'neither'}")
        return None
    if spec.by is not None:
        if spec.by not in works.columns:
            problems.append(f"{where}.by: expected a column of the works table ({', '.join(works.columns)}), found {spec.by!r}")
            return None
        values = works[spec.by].astype(str).str.strip()
        bad = False
        for index, value in enumerate(values):
            if value == "":
                problems.append(f"{row_of(index)}: {spec.by}: expected a group for grouping {name!r}, found an empty cell")
                bad = True
            elif ";" in value:
                problems.append(f"{row_of(index)}: {spec.by}: expected a group name without ';', found {value!r}")
                bad = True
        if bad:
            return None
        codes, uniques = pd.factorize(values, sort=False)
        return Grouping(name=name, groups=tuple(str(u) for u in uniques), membership=codes.astype(np.int64), by=spec.by)

    ids = list(works["id"])
    position = {work: index for index, work in enumerate(ids)}
    membership = np.full(len(ids), -1, dtype=np.int64)
    groups = list(spec.groups)
    rest_groups = [group for group, members in spec.groups.items() if members == "rest"]
    if len(rest_groups) > 1:
        problems.append(f"{where}.groups: expected `rest` for at most one group, found it for {rest_groups}")
        return None
    ok = True
    for group_index, (group, members) in enumerate(spec.groups.items()):
        if ";" in group or not group.strip():
            problems.append(f"{source}:{located.line_of(('groupings', name, 'groups', group))}: groupings.{name}.groups: "
                            f"expected a group name without ';', found {group!r}")
            ok = False
        if members == "rest":
            continue
        for member_index, work in enumerate(members):
            member_line = located.line_of(("groupings", name, "groups", group, member_index))
            member_where = f"{source}:{member_line}: groupings.{name}.groups.{group}[{member_index}]"
            if work not in position:
                hint = difflib.get_close_matches(work, ids, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                problems.append(f"{member_where}: expected a work id of the works table, found {work!r}{suggestion}")
                ok = False
            elif membership[position[work]] >= 0:
                other = groups[membership[position[work]]]
                problems.append(f"{member_where}: expected each work in one group, found {work!r} also in group {other!r}")
                ok = False
            else:
                membership[position[work]] = group_index
    strays = [ids[index] for index in np.flatnonzero(membership < 0)]
    if rest_groups:
        membership[membership < 0] = groups.index(rest_groups[0])
    elif strays:
        shown = ", ".join(repr(work) for work in strays[:10]) + (f" and {len(strays) - 10} more" if len(strays) > 10 else "")
        problems.append(f"{where}.groups: expected every work in exactly one group (or a group `rest`), found works in no group: {shown}")
        ok = False
    if not ok:
        return None
    used = np.unique(membership)
    if len(used) < len(groups):
        empty = [group for index, group in enumerate(groups) if index not in set(used.tolist())]
        problems.append(f"{where}.groups: expected every group to hold at least one work, found empty groups {empty}")
        return None
    return Grouping(name=name, groups=tuple(groups), membership=membership, by=None)


def _nests(finer: Grouping, coarser: Grouping) -> bool:
    """True when each group of ``finer`` lies inside one group of ``coarser``."""
    pairs = np.unique(np.stack([finer.membership, coarser.membership]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1]
