"""Proxy ablation experiments: evidence produced by ``expert`` itself (DESIGN.md "Proxy experiments").

Real LLM ablations are run by the labs and arrive as run tables. For calibration,
teaching and tests, this package *runs* ablations on a real corpus with a small
proxy language model: a smoothed word n-gram model whose counts add across works,
so the model of any coalition of works is a sum of per-work count tables and
thousands of configurations cost seconds.

- :mod:`~expert.experiment.spec`: the ``evidence.experiment`` block (:class:`ExperimentSpec`).
- :mod:`~expert.experiment.ngram`: tokenisation, count tables, Kneser-Ney / absolute
  discounting, vectorised scoring (no files, no cases).
- :mod:`~expert.experiment.run`: configurations, parallel evaluation, the run table and
  its cache (:func:`run_experiment`, :func:`cached_run_table`).

The output is an ordinary run table, so the analysis cannot tell it from lab evidence.
"""

from .run import ExperimentResult, cached_run_table, plan_configurations, run_experiment
from .spec import ExperimentSpec, Problem, benchmark_names, check_experiment

__all__ = [
    "ExperimentSpec",
    "ExperimentResult",
    "Problem",
    "run_experiment",
    "cached_run_table",
    "check_experiment",
    "plan_configurations",
    "benchmark_names",
]
