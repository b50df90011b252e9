"""Which configurations the evidence holds, and which valuations they support.

A :class:`Design` maps every group of every grouping to the configuration that
leaves it out (if the run table has one), so estimators can ask "is LOO of
publisher PRH available?" and the report can say which configurations are
missing. It knows nothing about scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .case import Case
from .evidence import RunTable

__all__ = ["Design", "GroupCoverage", "make_design"]


@dataclass(frozen=True)
class GroupCoverage:
    """The leave-one-out coverage of one grouping.

    Attributes
    ----------
    grouping : str
    groups : tuple of str
        Every group of the grouping, in case order.
    loo_configuration : tuple of (int or None)
        For each group, the configuration that removes exactly that group's works, or None.
    sizes : ndarray of int
        Works per group.
    """

    grouping: str
    groups: tuple[str, ...]
    loo_configuration: tuple[int | None, ...]
    sizes: np.ndarray = field(repr=False)

    @property
    def n_available(self) -> int:
        return sum(index is not None for index in self.loo_configuration)

    @property
    def missing(self) -> tuple[str, ...]:
        """Groups whose leave-one-out configuration is not in the evidence."""
        return tuple(group for group, index in zip(self.groups, self.loo_configuration) if index is None)


@dataclass(frozen=True)
class Design:
    """The configurations of a run table seen through the case's groupings.

    Attributes
    ----------
    full : int or None
        Index of the full-model configuration.
    coverage : tuple of GroupCoverage
        One per grouping, in case order.
    unassigned : tuple of int
        Configurations that are not the full model and not the LOO of any group
        (kept: later estimators may use them; the report lists them).
    """

    full: int | None
    coverage: tuple[GroupCoverage, ...]
    unassigned: tuple[int, ...]
    coalitions: dict = field(default_factory=dict, repr=False)
    """Grouping name -> int64 array over configurations: the bitmask of the groups each configuration
    trains on (bit g set when group g is present), or -1 when the configuration does not keep or
    remove whole groups of that grouping. Only for groupings with at most 62 groups."""

    def coalition_table(self, grouping: str) -> dict:
        """Bitmask of present groups -> configuration index, for the configurations made of whole groups."""
        masks = self.coalitions.get(grouping)
        if masks is None:
            return {}
        return {int(mask): index for index, mask in enumerate(masks) if mask >= 0}

    def of(self, grouping: str) -> GroupCoverage:
        for coverage in self.coverage:
            if coverage.grouping == grouping:
                return coverage
        raise KeyError(grouping)


def make_design(case: Case, runs: RunTable) -> Design:
    """Map each group of each grouping to its leave-one-out configuration."""
    used = set()
    coverage = []
    for grouping in case.groupings:
        indices = []
        for group_index in range(len(grouping.groups)):
            members = frozenset(grouping.members(group_index).tolist())
            found = runs.find(members)
            indices.append(found)
            if found is not None:
                used.add(found)
        coverage.append(GroupCoverage(grouping.name, grouping.groups, tuple(indices), grouping.sizes))
    full = runs.full
    if full is not None:
        used.add(full)
    unassigned = tuple(index for index in range(runs.n_configurations) if index not in used)
    coalitions = {grouping.name: coalition_masks(grouping, runs) for grouping in case.groupings
                  if len(grouping.groups) <= MAX_COALITION_PLAYERS}
    return Design(full=full, coverage=tuple(coverage), unassigned=unassigned, coalitions=coalitions)


MAX_COALITION_PLAYERS = 62


def coalition_masks(grouping, runs: RunTable) -> np.ndarray:
    """For each configuration, the bitmask of the groups of ``grouping`` it trains on, or -1.

    A configuration is a coalition of ``grouping`` when it removes whole groups only;
    its mask has bit g set when group g is kept.
    """
    sizes = grouping.sizes
    n_groups = len(sizes)
    everyone = (1 << n_groups) - 1
    masks = np.full(runs.n_configurations, -1, dtype=np.int64)
    for configuration in runs.configurations:
        removed = np.fromiter(configuration.removed, dtype=np.int64, count=len(configuration.removed))
        counts = np.bincount(grouping.membership[removed], minlength=n_groups) if len(removed) else np.zeros(n_groups, int)
        whole = counts == sizes
        if np.all((counts == 0) | whole):
            removed_mask = int(sum(1 << int(g) for g in np.flatnonzero(whole)))
            masks[configuration.index] = everyone & ~removed_mask
    return masks
