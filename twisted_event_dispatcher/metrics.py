# -*- test-case-name: tests.test_metrics -*-
"""
Prometheus metrics for any dispatcher, in one call, and the broker's.

:func:`instrument` adds a :class:`MetricsMonitor` to a dispatcher and
registers it in a ``prometheus_client`` registry: counters of the events
fired and how they ended, of handler failures, timeouts, cancellations and
refusals, histograms of handler and phase durations, and a gauge of the
events in flight.  :class:`BrokerMetrics` counts what the broker sees:
redeliveries, dead letters, and how long the broker takes to confirm a
publish.

Labels are bounded: a phase's name, a handler's name (its ``name`` option,
else its qualified name), a limit's kind, a broker group or exchange;
never an event, its details or its id.

The numbers are kept as plain Python numbers, updated in the reactor
thread, and become metric families when the registry is collected (which
must then happen in the reactor thread too, as the service does).

Needs ``prometheus_client``: ``pip install 'twisted_event_dispatcher[metrics]'``.

.. versionadded:: NEXT
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, final

from twisted.python.failure import Failure

try:
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.core import Metric
except ImportError as missing:  # pragma: no cover - the test extra installs it
    raise ImportError(
        "twisted_event_dispatcher.metrics needs prometheus_client: "
        "pip install 'twisted_event_dispatcher[metrics]'"
    ) from missing

from . import (
    FireCancelled,
    FireResult,
    HandlerId,
    HandlerOutcome,
    OverloadedError,
    StopPropagation,
)
from ._counting import (
    Histogram,
    Snapshotted,
    check_buckets,
    counter_family,
    gauge_family,
    histogram_family,
)
from ._monitors import FireMonitor

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from ._dispatcher import EventDispatcher

__all__ = ["DEFAULT_BUCKETS", "PREFIX", "BrokerMetrics", "MetricsMonitor", "instrument"]

_UNDER_A_SECOND = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
#: Histogram bounds, in seconds: from half a millisecond to a minute.
DEFAULT_BUCKETS: Final = (*_UNDER_A_SECOND, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: What every metric's name starts with.
PREFIX: Final = "event_dispatcher"

#: How many handler ids a monitor remembers the series of (a cache: beyond
#: it, it starts afresh; the series themselves are kept by name).
_REMEMBERED_IDS: Final = 4096

#: The limits whose refusals are counted, as the ``limit`` label says them.
LIMITS: Final = ("service", "dispatcher", "handler")


@final
class _HandlerSeries:
    """
    What is counted for one handler name in one phase.
    """

    __slots__ = ("cancellations", "durations", "failures", "timeouts")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.durations = Histogram(bounds)
        self.failures = 0
        self.timeouts = 0
        self.cancellations = 0

    def copy(self) -> _HandlerSeries:
        """
        These numbers, as they are now.
        """
        copied = _HandlerSeries(())
        copied.durations = self.durations.copy()
        copied.failures, copied.timeouts, copied.cancellations = (
            self.failures,
            self.timeouts,
            self.cancellations,
        )
        return copied

    def failed(self, outcome: HandlerOutcome) -> None:
        """
        Count a call that ended with a failure other than ``StopPropagation``.
        """
        status = outcome.status
        if status == "timed_out":
            self.timeouts += 1
        elif status == "cancelled":
            self.cancellations += 1
        else:
            self.failures += 1


def _refused_here(outcome: HandlerOutcome, handler_id: HandlerId) -> bool:
    """
    Whether a handler's call was refused by its own concurrency limit (it
    never started).
    """
    assert outcome.failure is not None
    error = outcome.failure.value
    return isinstance(error, OverloadedError) and error.what is handler_id


@final
class MetricsMonitor(FireMonitor, Snapshotted):
    """
    An :class:`~twisted_event_dispatcher.IFireMonitor` that counts what
    the fires of a dispatcher do, and a ``prometheus_client`` collector
    that reports it (register it in a registry, or use :func:`instrument`).

    The families, each name starting with ``prefix`` (`PREFIX` unless given):

    - ``<prefix>_events_fired_total``: fires started (follow-up events included);
    - ``<prefix>_events_finished_total{outcome}``: fires over, by outcome
      (``succeeded``, ``failed``, ``cancelled``);
    - ``<prefix>_events_in_flight``: fires started and not over;
    - ``<prefix>_handler_duration_seconds{phase,handler}``: handler calls and their
      durations (its ``<prefix>_handler_duration_seconds_count`` is the number of calls);
    - ``<prefix>_handler_failures_total{phase,handler}``,
      ``<prefix>_handler_timeouts_total{phase,handler}``,
      ``<prefix>_handler_cancellations_total{phase,handler}``: calls that failed,
      ran past their timeout, or were cancelled with their fire;
    - ``<prefix>_phase_duration_seconds{phase}``: how long each phase took;
    - ``<prefix>_refusals_total{limit}``: work refused by a limit: ``handler`` (a
      handler's ``max_concurrent``, counted here), ``dispatcher`` and
      ``service`` (counted through :meth:`refused` or :meth:`watch`).

    A handler that stops its event (``StopPropagation``) succeeded.
    Durations are those the dispatcher measures on its clock.

    :param buckets: the histograms' bounds, in seconds.
    :param prefix: what every metric's name starts with.
    :raises ValueError: for bounds that are not positive, finite and
        increasing (naming the first that is not positive).
    """

    def __init__(self, buckets: Iterable[float] = DEFAULT_BUCKETS, *, prefix: str = PREFIX) -> None:
        self._bounds = bounds = check_buckets(buckets)
        self._first_bound = bounds[0]
        self._prefix = prefix
        self.fired = 0
        self._succeeded = self._failed = self._cancelled = 0
        self._handlers: dict[tuple[str, str], _HandlerSeries] = {}
        self._by_id: dict[HandlerId, _HandlerSeries] = {}
        self._phases: dict[str, Histogram] = {}
        self._refusals = dict.fromkeys(LIMITS, 0)

    @property
    def buckets(self) -> tuple[float, ...]:
        """
        The histograms' bounds, in seconds.
        """
        return self._bounds

    @property
    def finished(self) -> dict[str, int]:
        """
        How many fires are over, by outcome: ``succeeded``, ``failed``, ``cancelled``.
        """
        return {"succeeded": self._succeeded, "failed": self._failed, "cancelled": self._cancelled}

    @property
    def in_flight(self) -> int:
        """
        How many fires have started and are not over.
        """
        return self.fired - self._succeeded - self._failed - self._cancelled

    # The monitor's hooks: each is called for every fire, phase or handler
    # call, so each does the least it can (no label or string is built; a
    # handler's series is found by its id, a phase's by its name).  Those of
    # a phase's and a call's start are left as FireMonitor has them: not called.

    def fire_started(self, fire: FireResult) -> None:
        """
        Count a fire.
        """
        self.fired += 1

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        """
        Count a handler's call, its duration, and how it ended.
        """
        try:
            series = self._by_id[handler_id]
        except KeyError:
            series = self._series(handler_id, outcome.phase)
        failure = outcome._failure  # its property's value, without the call (most calls succeed)
        if failure is not None and not failure.check(StopPropagation):
            if _refused_here(outcome, handler_id):
                self._refusals["handler"] += 1
                return
            series.failed(outcome)
        durations = series.durations  # Histogram.observe, inlined: most calls take under the first bound
        durations.counts[0 if seconds <= self._first_bound else bisect_left(self._bounds, seconds)] += 1
        durations.sum += seconds

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        """
        Count a phase's duration.
        """
        try:
            durations = self._phases[phase]
        except KeyError:
            durations = self._phases[phase] = Histogram(self._bounds)
        durations.counts[0 if seconds <= self._first_bound else bisect_left(self._bounds, seconds)] += 1
        durations.sum += seconds

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        """
        Count how a fire ended.
        """
        if failure is None:
            self._succeeded += 1
        elif failure.check(FireCancelled):
            self._cancelled += 1
        else:
            self._failed += 1

    def _series(self, handler_id: HandlerId, phase: str) -> _HandlerSeries:
        key = (phase, handler_id.name)
        series = self._handlers.get(key)
        if series is None:
            series = self._handlers[key] = _HandlerSeries(self._bounds)
        if len(self._by_id) >= _REMEMBERED_IDS:
            self._by_id.clear()
        self._by_id[handler_id] = series
        return series

    # Refusals the hooks cannot see

    def refused(self, limit: str) -> None:
        """
        Count one piece of work refused by a limit: ``"dispatcher"`` (a
        fire refused by ``max_in_flight``), ``"service"`` (by the service's
        own queue) or ``"handler"``.

        :raises ValueError: for another limit.
        """
        if limit not in self._refusals:
            raise ValueError(f"limit must be one of {LIMITS!r}, got {limit!r}")
        self._refusals[limit] += 1

    def watch(self, fired: Deferred[FireResult]) -> Deferred[FireResult]:
        """
        Count the fire's refusal if ``fired`` (what ``fire_event`` or
        ``fire`` returned) fails with ``OverloadedError``: the dispatcher
        refuses a fire before any hook is told.

        :returns: ``fired`` itself, its result or failure unchanged.
        """

        def count(failure: Failure) -> Failure:
            if failure.check(OverloadedError):
                self.refused("dispatcher")
            return failure

        return fired.addErrback(count)

    # The collector

    def snapshot(self) -> _MonitorSnapshot:
        """
        The numbers counted so far, copied (cheap: no family is made), in
        the reactor thread; the copy's ``collect`` may run in any thread.
        """
        return _MonitorSnapshot(self)


@final
class _MonitorSnapshot:
    """
    The numbers of a :class:`MetricsMonitor` at one moment, and the
    families they make.
    """

    def __init__(self, monitor: MetricsMonitor) -> None:
        self.prefix = monitor._prefix
        self.fired = monitor.fired
        self.finished = monitor.finished
        self.in_flight = monitor.in_flight
        self.handlers = [(key, series.copy()) for key, series in monitor._handlers.items()]
        self.phases = [(phase, histogram.copy()) for phase, histogram in monitor._phases.items()]
        self.refusals = dict(monitor._refusals)

    def collect(self) -> list[Metric]:
        """
        The metric families.
        """
        name, handlers = self.prefix, self.handlers  # in the order first seen
        return [
            counter_family(
                f"{name}_events_fired", "Fires started (follow-up events included).", (), [((), self.fired)]
            ),
            counter_family(
                f"{name}_events_finished",
                "Fires over, by outcome: succeeded, failed or cancelled.",
                ("outcome",),
                [((outcome,), count) for outcome, count in self.finished.items()],
            ),
            gauge_family(f"{name}_events_in_flight", "Fires started and not over.", self.in_flight),
            histogram_family(
                f"{name}_handler_duration_seconds",
                "Handler calls and their durations, in seconds.",
                ("phase", "handler"),
                [(key, series.durations) for key, series in handlers],
            ),
            *(
                counter_family(
                    f"{name}_handler_{kind}",
                    f"Handler calls that {meaning}.",
                    ("phase", "handler"),
                    [(key, getattr(series, kind)) for key, series in handlers],
                )
                for kind, meaning in (
                    ("failures", "failed"),
                    ("timeouts", "ran past their timeout and were cancelled"),
                    ("cancellations", "were cancelled with their fire"),
                )
            ),
            histogram_family(
                f"{name}_phase_duration_seconds",
                "How long each phase took, in seconds, from its first handler's start to its last's end.",
                ("phase",),
                [((phase,), histogram) for phase, histogram in self.phases],
            ),
            counter_family(
                f"{name}_refusals",
                "Work refused by a limit: service (its queue), dispatcher (max_in_flight), "
                "handler (max_concurrent).",
                ("limit",),
                [((limit,), count) for limit, count in self.refusals.items()],
            ),
        ]


def instrument(
    dispatcher: EventDispatcher,
    *,
    registry: CollectorRegistry = REGISTRY,
    buckets: Iterable[float] = DEFAULT_BUCKETS,
    prefix: str = PREFIX,
) -> MetricsMonitor:
    """
    Count what ``dispatcher``'s fires do, in ``registry``: make a
    :class:`MetricsMonitor`, add it to the dispatcher and register it.

    :param registry: where the metrics are reported; ``prometheus_client``'s
        default registry unless given.
    :param buckets: the histograms' bounds, in seconds.
    :param prefix: what every metric's name starts with.
    :returns: the monitor (remove it with ``dispatcher.remove_monitor`` and
        ``registry.unregister``).
    :raises ValueError: if ``registry`` already has these metrics (two
        dispatchers in one registry need different prefixes), or for
        bounds :class:`MetricsMonitor` refuses.
    """
    monitor = MetricsMonitor(buckets, prefix=prefix)
    registry.register(monitor)
    dispatcher.add_monitor(monitor)
    return monitor


@final
class BrokerMetrics(Snapshotted):
    """
    What the broker counts, for ``prometheus_client``: the broker calls
    these methods as things happen (in the reactor thread), and a registry
    it is registered in reports them.

    - ``<prefix>_broker_redeliveries_total{group}``: deliveries of an event after
      its first (``attempt`` above 1);
    - ``<prefix>_broker_dead_letters_total{group,reason}``: events given up to the
      dead letters, by reason (the broker's: ``handlers failed``, ``not a
      valid envelope``);
    - ``<prefix>_broker_publish_confirm_seconds{exchange}``: from a publish to the
      broker's confirm;
    - ``<prefix>_broker_publish_failures_total{exchange}``: publishes that were
      never confirmed (refused, unroutable, or the broker unreachable).

    :param buckets: the histogram's bounds, in seconds.
    :param prefix: what every metric's name starts with.
    :raises ValueError: for bounds that are not positive, finite and
        increasing (naming the first that is not positive).
    """

    def __init__(self, buckets: Iterable[float] = DEFAULT_BUCKETS, *, prefix: str = PREFIX) -> None:
        self._bounds = check_buckets(buckets)
        self._prefix = prefix
        self._redeliveries: dict[str, int] = {}
        self._dead_letters: dict[tuple[str, str], int] = {}
        self._confirms: dict[str, Histogram] = {}
        self._publish_failures: dict[str, int] = {}

    def delivered(self, group: str, attempt: int) -> None:
        """
        The broker delivered an event to ``group``; a redelivery if
        ``attempt`` is above 1.
        """
        if attempt > 1:
            self._redeliveries[group] = self._redeliveries.get(group, 0) + 1

    def dead_lettered(self, group: str, reason: str) -> None:
        """
        ``group`` gave an event up to the dead letters, for ``reason`` (one
        of a few fixed words, never an error message).
        """
        key = (group, reason)
        self._dead_letters[key] = self._dead_letters.get(key, 0) + 1

    def confirmed(self, exchange: str, seconds: float) -> None:
        """
        The broker confirmed a publish to ``exchange``, ``seconds`` after it was sent.
        """
        histogram = self._confirms.get(exchange)
        if histogram is None:
            histogram = self._confirms[exchange] = Histogram(self._bounds)
        histogram.observe(seconds)

    def publish_failed(self, exchange: str) -> None:
        """
        A publish to ``exchange`` failed: it was never confirmed.
        """
        self._publish_failures[exchange] = self._publish_failures.get(exchange, 0) + 1

    def snapshot(self) -> _BrokerSnapshot:
        """
        The numbers counted so far, copied, in the reactor thread; the
        copy's ``collect`` may run in any thread.
        """
        return _BrokerSnapshot(self)


@final
class _BrokerSnapshot:
    """
    The numbers of a :class:`BrokerMetrics` at one moment, and the
    families they make.
    """

    def __init__(self, broker: BrokerMetrics) -> None:
        self.prefix = broker._prefix
        self.redeliveries = sorted(broker._redeliveries.items())
        self.dead_letters = sorted(broker._dead_letters.items())
        self.confirms = [
            (exchange, histogram.copy()) for exchange, histogram in sorted(broker._confirms.items())
        ]
        self.publish_failures = sorted(broker._publish_failures.items())

    def collect(self) -> list[Metric]:
        """
        The metric families.
        """
        name = f"{self.prefix}_broker"
        return [
            counter_family(
                f"{name}_redeliveries",
                "Deliveries of an event after its first, by consumer group.",
                ("group",),
                [((group,), count) for group, count in self.redeliveries],
            ),
            counter_family(
                f"{name}_dead_letters",
                "Events given up to the dead letters, by consumer group and reason.",
                ("group", "reason"),
                self.dead_letters,
            ),
            histogram_family(
                f"{name}_publish_confirm_seconds",
                "From a publish to the broker's confirm, in seconds.",
                ("exchange",),
                [((exchange,), histogram) for exchange, histogram in self.confirms],
            ),
            counter_family(
                f"{name}_publish_failures",
                "Publishes never confirmed (refused, unroutable, or the broker unreachable).",
                ("exchange",),
                [((exchange,), count) for exchange, count in self.publish_failures],
            ),
        ]
