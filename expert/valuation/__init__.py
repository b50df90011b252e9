"""Valuation methods as weight matrices over configurations.

Every linear valuation is ``values = W @ u`` where ``u`` holds the utility of
each configuration (DESIGN.md "The central idea"). Each estimator here returns
a :class:`~expert.valuation.weights.Valuation`: the row labels (what is valued)
and a sparse ``W``; the bootstrap then values every replicate with one matrix
product. No file I/O, no report code.
"""

from .weights import Valuation, stack
from .loo import leave_one_out, grouping_gap

__all__ = ["Valuation", "stack", "leave_one_out", "grouping_gap"]
