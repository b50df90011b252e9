"""Statistics for noisy ablations: the crossed bootstrap, intervals, power.

Takes arrays, returns result objects; no files, no report code.
"""

from .bootstrap import (BLOCK, DegenerateIntervalWarning, IntervalSummary, UtilityBootstrap, bca_interval,
                        crossed_bootstrap, jackknife_acceleration, summarise)

__all__ = ["BLOCK", "DegenerateIntervalWarning", "IntervalSummary", "UtilityBootstrap", "bca_interval",
           "crossed_bootstrap", "jackknife_acceleration", "summarise"]
