# -*- test-case-name: tests.test_metrics -*-
"""
Counting in the reactor thread for almost nothing: counters and histogram
buckets as plain Python numbers, which become ``prometheus_client`` metric
families only when a registry is collected.

``prometheus_client``'s own metric objects take a lock on every update (they
may be updated from any thread); a monitor is called only in the reactor
thread, so it can count with plain integers and leave the families to the
scrape.  Its ``observe`` costs a seventh of a ``Histogram.observe``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Protocol, final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

__all__ = [
    "Collected",
    "Histogram",
    "Snapshotted",
    "check_buckets",
    "counter_family",
    "gauge_family",
    "histogram_family",
    "without_samples",
]


def check_buckets(buckets: Iterable[float]) -> tuple[float, ...]:
    """
    Histogram bucket bounds, checked: positive, finite, increasing, at
    least one (``+Inf`` is always added), as the service's ``[metrics]
    buckets`` must be.

    :raises ValueError: for bounds that are not so (naming the first bound
        that is not positive).
    """
    bounds = tuple(float(bound) for bound in buckets)
    if not bounds or not all(math.isfinite(bound) for bound in bounds):
        raise ValueError(f"buckets must be at least one finite number of seconds, got {bounds!r}")
    below = next((bound for bound in bounds if bound <= 0), None)
    if below is not None:
        raise ValueError(f"buckets must be positive numbers of seconds, got {below!r} in {bounds!r}")
    if any(later <= earlier for earlier, later in pairwise(bounds)):
        raise ValueError(f"buckets must increase, got {bounds!r}")
    return bounds


@final
class Histogram:
    """
    One histogram series: how many observations fell at or under each
    bound (not yet cumulated), and their sum.
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """
        Count ``value`` in the first bucket whose bound is at least it.
        """
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def copy(self) -> Histogram:
        """
        This histogram, as it is now.
        """
        copied = Histogram(self.bounds)
        copied.counts = list(self.counts)
        copied.sum = self.sum
        return copied

    def buckets(self) -> list[tuple[str, float]]:
        """
        The cumulative counts, as a histogram family takes them.
        """
        total = 0
        cumulative: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += count
            cumulative.append((floatToGoString(bound), total))
        return cumulative


def counter_family(
    name: str, documentation: str, labels: Sequence[str], values: Iterable[tuple[Sequence[str], float]]
) -> CounterMetricFamily:
    """
    A counter family (``name`` without ``_total``) with one sample per
    ``(label values, value)``.
    """
    family = CounterMetricFamily(name, documentation, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def gauge_family(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """
    A gauge family of one sample without labels.
    """
    return GaugeMetricFamily(name, documentation, value=value)


def histogram_family(
    name: str, documentation: str, labels: Sequence[str], series: Iterable[tuple[Sequence[str], Histogram]]
) -> HistogramMetricFamily:
    """
    A histogram family with one series per ``(label values, histogram)``.
    """
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for label_values, histogram in series:
        family.add_metric(label_values, histogram.buckets(), histogram.sum)
    return family


def without_samples(families: Iterable[Metric]) -> list[Metric]:
    """
    The families' names, documentation and types, without their samples:
    what a collector's ``describe`` gives a registry to check for
    duplicate names.
    """
    return [Metric(family.name, family.documentation, family.type) for family in families]


class Collected(Protocol):
    """
    Metric families ready to be made: numbers copied at one moment.
    """

    def collect(self) -> list[Metric]: ...


class Snapshotted(ABC):
    """
    A collector whose numbers change in the reactor thread: there it gives
    a copy of them (:meth:`snapshot`), whose families can be made in any
    thread; collected directly, it must be collected there.
    """

    @abstractmethod
    def snapshot(self) -> Collected:
        """
        The numbers counted so far, copied (cheap: no family is made yet).
        """

    def collect(self) -> list[Metric]:
        """
        The metric families, from the numbers counted so far.
        """
        return self.snapshot().collect()

    def describe(self) -> list[Metric]:
        """
        The families, without samples (for a registry's check of duplicate names).
        """
        return without_samples(self.collect())
