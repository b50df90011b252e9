"""The ``evidence.experiment`` block of a case file: what proxy ablation to run.

:class:`ExperimentSpec` is a frozen pydantic model (unknown keys are errors)
that the case loader validates with the rest of the case; it maps one to one to
the YAML block::

    evidence:
      experiment:
        text_column: text            # works column: each work's text file (.txt, .gz, .bz2, .xz)
        benchmark:
          texts: [heldout/*.txt.gz]  # held-out files or globs, relative to the case file
          item_tokens: 64            # predicted tokens per benchmark item (passage)
          max_items: null            # keep at most this many items, evenly spaced
          name: heldout              # benchmark names: heldout-neg-bits, heldout-cloze
        model:
          order: 3                   # word n-gram order N, 1 to 5
          smoothing: kneser_ney      # or absolute_discounting (both interpolated)
          discount: 0.75             # one D for every order, or a list of N
          vocabulary: {min_count: 2}
          tokenisation: lowercase_words
        metrics: [bits_per_token]    # and/or cloze
        cloze: {distractors: 4, seed: 0}
        seeds: [0, 1, 2, 3, 4]
        subsample: 0.9               # share of each work's sentences a seed trains on
        design:
          full: true                 # the model trained on every work
          none: false                # the model trained on no work (`<grouping>:*`)
          loo: [work, publisher]     # leave out every group of these groupings, one at a time
          exhaustive: sector         # all 2^k coalitions of this grouping's groups (k <= 12)
          bernoulli: {grouping: publisher, m: 200, seed: 0}     # m random coalitions (each group in with p = 1/2)
          permutations: {grouping: publisher, n: 50, seed: 0}   # every prefix of n random orderings

A configuration is written in the run table as the ``removed`` keys of the groups
*not* in the coalition (DESIGN.md "Run table"). Scores are higher-is-better: the
bits-per-token benchmark is scored as ``-bits per token`` (benchmark
``<name>-neg-bits``), the cloze benchmark as accuracy (``<name>-cloze``).

:func:`check_experiment` checks the block against the works and groupings of
the case (names, files, sizes) and returns every problem at once.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ExperimentSpec",
    "BenchmarkSpec",
    "ModelSpec",
    "VocabularySpec",
    "ClozeSpec",
    "DesignSpec",
    "BernoulliDesign",
    "PermutationDesign",
    "Problem",
    "check_experiment",
    "benchmark_names",
    "expand_benchmark_texts",
    "MAX_EXHAUSTIVE_GROUPS",
    "TEXT_SUFFIXES",
]

MAX_EXHAUSTIVE_GROUPS = 12
TEXT_SUFFIXES = (".txt", ".gz", ".bz2", ".xz")
METRIC_SUFFIX = {"bits_per_token": "neg-bits", "cloze": "cloze"}


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchmarkSpec(_Schema):
    """The held-out texts and how they are cut into items."""

    texts: Annotated[list[str], Field(min_length=1)] = Field(
        description="Held-out text files or glob patterns, relative to the case file; never training works.")
    item_tokens: Annotated[int, Field(ge=4, le=100_000)] = Field(
        64, description="Predicted tokens per item: each held-out text is cut into consecutive passages.")
    max_items: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Keep at most this many items, evenly spaced over the held-out texts.")
    name: Annotated[str, Field(min_length=1, pattern=r"^[^;:,\s]+$")] = Field(
        "heldout", description="Stem of the benchmark names in the run table.")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == "all":
            raise ValueError("a name other than 'all' (reserved for the macro average)")
        return value


class VocabularySpec(_Schema):
    """The fixed vocabulary (like an LLM's tokenizer, the same for every configuration)."""

    min_count: Annotated[int, Field(ge=1)] = Field(
        2, description="Words seen fewer times in all training works together become <unk>.")


class ModelSpec(_Schema):
    """The proxy language model: an interpolated, discounted word n-gram model."""

    order: Annotated[int, Field(ge=1, le=5)] = 3
    smoothing: Literal["kneser_ney", "absolute_discounting"] = Field(
        "kneser_ney", description="Interpolated Kneser-Ney or interpolated absolute discounting (see ngram.py).")
    discount: float | list[float] = Field(0.75, description="D in (0, 1): one for all orders or one per order.")
    vocabulary: VocabularySpec = Field(default_factory=VocabularySpec)
    tokenisation: Literal["lowercase_words"] = Field(
        "lowercase_words", description="Sentences split at . ! ?; lower-case words [a-z0-9]+(?:'[a-z0-9]+)*.")

    @field_validator("discount")
    @classmethod
    def _discount_range(cls, value):
        values = value if isinstance(value, list) else [value]
        if not values or any(not (0.0 < float(v) < 1.0) for v in values):
            raise ValueError("a discount in (0, 1) or a list of them")
        return value

    @model_validator(mode="after")
    def _discount_per_order(self):
        if isinstance(self.discount, list) and len(self.discount) != self.order:
            raise ValueError(f"one discount per order ({self.order}) in `discount`, got {len(self.discount)}")
        return self

    @property
    def discounts(self) -> list[float]:
        """``D_1 .. D_N``."""
        return [float(d) for d in self.discount] if isinstance(self.discount, list) else [float(self.discount)] * self.order


class ClozeSpec(_Schema):
    """The cloze metric: is the true next word more probable than k distractors?"""

    distractors: Annotated[int, Field(ge=1, le=100)] = 4
    seed: Annotated[int, Field(ge=0)] = 0


class BernoulliDesign(_Schema):
    """``m`` coalitions, each group in with probability 1/2 (Banzhaf / MSR sampling)."""

    grouping: str
    m: Annotated[int, Field(ge=1, le=100_000)]
    seed: Annotated[int, Field(ge=0)] = 0


class PermutationDesign(_Schema):
    """Every prefix of ``n`` random orderings of the groups (permutation sampling)."""

    grouping: str
    n: Annotated[int, Field(ge=1, le=100_000)]
    seed: Annotated[int, Field(ge=0)] = 0


class DesignSpec(_Schema):
    """Which configurations to train: each is a set of groups left out."""

    full: bool = True
    none: bool = False
    loo: list[str] = Field(default_factory=list)
    exhaustive: str | None = None
    bernoulli: BernoulliDesign | None = None
    permutations: PermutationDesign | None = None


class ExperimentSpec(_Schema):
    """A proxy ablation experiment run by ``expert`` itself (DESIGN.md "Proxy experiments")."""

    text_column: Annotated[str, Field(min_length=1)] = Field(
        "text", description="Works column with each work's text file, relative to the case file.")
    benchmark: BenchmarkSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    metrics: Annotated[list[Literal["bits_per_token", "cloze"]], Field(min_length=1)] = Field(
        default_factory=lambda: ["bits_per_token"])
    cloze: ClozeSpec = Field(default_factory=ClozeSpec)
    seeds: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4])
    subsample: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.9, description="Share of each work's sentences a seed trains on (the seed's training randomness).")
    design: DesignSpec = Field(default_factory=DesignSpec)

    @field_validator("metrics", "seeds")
    @classmethod
    def _distinct(cls, value: list):
        if len(set(value)) != len(value):
            raise ValueError("distinct values")
        return value


def benchmark_names(spec: ExperimentSpec) -> dict[str, str]:
    """Metric -> benchmark name in the run table, e.g. ``{"bits_per_token": "heldout-neg-bits"}``."""
    return {metric: f"{spec.benchmark.name}-{METRIC_SUFFIX[metric]}" for metric in spec.metrics}


@dataclass(frozen=True)
class Problem:
    """One problem of an experiment block.

    Attributes
    ----------
    loc : tuple of (str or int)
        Key path from the case file's root, e.g. ``("evidence", "experiment", "design", "loo", 1)``.
    message : str
        ``expected ..., found ...``.
    """

    loc: tuple
    message: str

    def __str__(self) -> str:
        path = ".".join(str(part) if not isinstance(part, int) else f"[{part}]" for part in self.loc).replace(".[", "[")
        return f"{path}: {self.message}"


ROOT = ("evidence", "experiment")


def expand_benchmark_texts(case_dir: Path, spec: ExperimentSpec) -> tuple[list[Path], list[Problem]]:
    """The held-out files (sorted within each pattern, first occurrence kept) and the patterns that match none."""
    files: list[Path] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for position, pattern in enumerate(spec.benchmark.texts):
        if glob.has_magic(pattern):
            matches = sorted(Path(p).resolve() for p in glob.glob(str(case_dir / pattern), recursive=True))
            matches = [m for m in matches if m.is_file()]
        else:
            path = (case_dir / pattern).resolve()
            matches = [path] if path.is_file() else []
        if not matches:
            problems.append(Problem(ROOT + ("benchmark", "texts", position),
                                    f"expected a held-out text file or a glob matching one, found no such file ({pattern})"))
        for match in matches:
            if match not in seen:
                seen.add(match)
                files.append(match)
    return files, problems


def check_experiment(case_dir: Path, works, groupings: dict, spec: ExperimentSpec) -> list[Problem]:
    """Every problem of ``spec`` against the case's works and groupings.

    Parameters
    ----------
    case_dir : Path
        The folder paths are relative to.
    works : pandas.DataFrame
        The works table (column ``id`` and the text column).
    groupings : dict
        Grouping name -> ``(groups, membership)`` or an object with ``groups`` and ``membership``.
    spec : ExperimentSpec
        The validated ``evidence.experiment`` block.

    Returns
    -------
    list of Problem
        Empty when the experiment can run.
    """
    problems: list[Problem] = []
    names = list(groupings)
    sizes = {name: len(_groups_of(value)[0]) for name, value in groupings.items()}

    if spec.text_column not in works.columns:
        problems.append(Problem(ROOT + ("text_column",),
                                f"expected a column of the works table ({', '.join(map(str, works.columns))}), "
                                f"found {spec.text_column!r}"))
        text_files: dict[Path, str] = {}
    else:
        text_files = {}
        missing = []
        for row, (work_id, relative) in enumerate(zip(works["id"], works[spec.text_column])):
            relative = "" if relative is None or (isinstance(relative, float) and np.isnan(relative)) else str(relative).strip()
            path = (case_dir / relative).resolve() if relative else None
            if path is None or not path.is_file():
                missing.append((row, work_id, relative))
            elif not path.name.lower().endswith(TEXT_SUFFIXES):
                problems.append(Problem(ROOT + ("text_column",),
                                        f"expected text files ending in {', '.join(TEXT_SUFFIXES)}, found {relative!r} "
                                        f"for work {work_id!r} (row {row + 2})"))
            else:
                text_files[path] = str(work_id)
        for count, (row, work_id, relative) in enumerate(missing):
            if count == 10:
                problems.append(Problem(ROOT + ("text_column",), f"... and {len(missing) - 10} more works without a text file"))
                break
            found = "an empty cell" if not relative else f"no such file ({relative})"
            problems.append(Problem(ROOT + ("text_column",),
                                    f"expected the text file of work {work_id!r} (works row {row + 2}, column "
                                    f"{spec.text_column!r}), found {found}"))

    held_out, missing_patterns = expand_benchmark_texts(case_dir, spec)
    problems.extend(missing_patterns)
    for path in held_out:
        if path in text_files:
            problems.append(Problem(ROOT + ("benchmark", "texts"),
                                    f"expected held-out texts that no work trains on, found {path.name!r}, the text of "
                                    f"work {text_files[path]!r}"))
        elif not path.name.lower().endswith(TEXT_SUFFIXES):
            problems.append(Problem(ROOT + ("benchmark", "texts"),
                                    f"expected text files ending in {', '.join(TEXT_SUFFIXES)}, found {path.name!r}"))

    def known(name: str, loc: tuple) -> bool:
        if name in groupings:
            return True
        import difflib

        hint = difflib.get_close_matches(name, names, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        problems.append(Problem(loc, f"expected a grouping of the case ({', '.join(names)}), found {name!r}{suggestion}"))
        return False

    design = spec.design
    for position, name in enumerate(design.loo):
        known(name, ROOT + ("design", "loo", position))
    if len(set(design.loo)) != len(design.loo):
        problems.append(Problem(ROOT + ("design", "loo"), f"expected distinct grouping names, found {design.loo}"))
    if design.exhaustive is not None and known(design.exhaustive, ROOT + ("design", "exhaustive")):
        if sizes[design.exhaustive] > MAX_EXHAUSTIVE_GROUPS:
            problems.append(Problem(ROOT + ("design", "exhaustive"),
                                    f"expected a grouping of at most {MAX_EXHAUSTIVE_GROUPS} groups (2^k coalitions), "
                                    f"found {design.exhaustive!r} with {sizes[design.exhaustive]}; use bernoulli or "
                                    f"permutations sampling instead"))
    for key in ("bernoulli", "permutations"):
        sampled = getattr(design, key)
        if sampled is not None:
            known(sampled.grouping, ROOT + ("design", key, "grouping"))
    if not (design.full or design.none or design.loo or design.exhaustive or design.bernoulli or design.permutations):
        problems.append(Problem(ROOT + ("design",), "expected at least one configuration (full, none, loo, exhaustive, "
                                                    "bernoulli or permutations), found none"))
    if not names:
        problems.append(Problem(("groupings",), "expected at least one grouping, found none"))
    return problems


def _groups_of(value) -> tuple[tuple, np.ndarray]:
    """``(groups, membership)`` of a grouping given as a pair or as an object with those attributes."""
    if hasattr(value, "groups") and hasattr(value, "membership"):
        return tuple(value.groups), np.asarray(value.membership, dtype=np.int64)
    groups, membership = value
    return tuple(groups), np.asarray(membership, dtype=np.int64)
