"""The report: context (documented dataclass), charts (SVG), render (Jinja), pdf (WeasyPrint).

Consumes an :class:`~expert.analysis.Analysis`; never reads evidence itself.
Only :mod:`expert.report.pdf` imports WeasyPrint, lazily.
"""
