"""expert: value AI training data from ablation evidence at several groupings.

The pipeline (see DESIGN.md in the repository) is
``load_case -> read_runs -> Design -> analyse -> ReportContext -> HTML/PDF``;
:func:`expert.build.build` runs it end to end.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
