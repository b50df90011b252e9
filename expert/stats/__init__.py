"""Statistics for noisy ablations: the crossed bootstrap, intervals, power, tests and ranks.

Takes arrays, returns result objects; no files, no report code.
"""

from .bootstrap import (BLOCK, DegenerateIntervalWarning, IntervalSummary, UtilityBootstrap, bca_interval,
                        crossed_bootstrap, jackknife_acceleration, summarise)
from .power import (NullBandResult, PerWorkScalingResult, PowerGridResult, item_floor, mde_multiplier,
                    minimum_detectable_effect, null_band, per_work_scaling, power_grid, seeds_needed)
from .ranks import RankStabilityResult, competition_ranks, rank_stability
from .tests import (Classification, EquivalenceResult, GateLevelResult, HierarchicalGateResult, MultipleTestResult,
                    benjamini_hochberg, benjamini_yekutieli, certified_margin, classify, hierarchical_gate, holm,
                    tost, two_sided_p)

__all__ = ["BLOCK", "DegenerateIntervalWarning", "IntervalSummary", "UtilityBootstrap", "bca_interval",
           "crossed_bootstrap", "jackknife_acceleration", "summarise",
           "NullBandResult", "PerWorkScalingResult", "PowerGridResult", "item_floor", "mde_multiplier",
           "minimum_detectable_effect", "null_band", "per_work_scaling", "power_grid", "seeds_needed",
           "RankStabilityResult", "competition_ranks", "rank_stability",
           "Classification", "EquivalenceResult", "GateLevelResult", "HierarchicalGateResult", "MultipleTestResult",
           "benjamini_hochberg", "benjamini_yekutieli", "certified_margin", "classify", "hierarchical_gate", "holm",
           "tost", "two_sided_p"]
