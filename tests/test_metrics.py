"""
Prometheus metrics of a dispatcher (twisted_event_dispatcher.metrics): exact
values after known fires, read back through prometheus_client's own text
format and parser; the histogram against a simple model; the broker's hook.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from support import failure_of, result_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from zope.interface.verify import verifyObject

from twisted_event_dispatcher import (
    EventDispatcher,
    FireCancelled,
    HandlerOutcome,
    IFireMonitor,
    OverloadedError,
    StopPropagation,
)
from twisted_event_dispatcher._counting import Histogram, check_buckets
from twisted_event_dispatcher.metrics import DEFAULT_BUCKETS, BrokerMetrics, MetricsMonitor, instrument

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scraped(registry: CollectorRegistry) -> Samples:
    """
    Every sample of the registry's text format, as prometheus_client's parser reads it.
    """
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def instrumented(clock: Clock, **options: Any) -> tuple[EventDispatcher, CollectorRegistry, MetricsMonitor]:
    dispatcher = EventDispatcher(("kind",), ("before", "during"), clock=clock, **options)
    registry = CollectorRegistry()
    monitor = instrument(dispatcher, registry=registry, buckets=(0.1, 0.5, 1.0))
    dispatcher.start()
    return dispatcher, registry, monitor


def quick(event: object) -> str:
    return "done"


def broken(event: object) -> None:
    raise ValueError("broken")


def stopper(event: object) -> None:
    raise StopPropagation()


def test_the_monitor_provides_the_interface() -> None:
    assert verifyObject(IFireMonitor, MetricsMonitor())


def test_a_known_set_of_fires_gives_exact_counts(clock: Clock) -> None:
    """
    Successes, a failure, a timeout, a cancellation and a stop, each
    counted where it belongs, with its duration on the dispatcher's clock.
    """
    dispatcher, registry, _ = instrumented(clock)
    hung: Deferred[None] = Deferred()
    dispatcher.register(quick, "before", use_weakref=False)
    dispatcher.register(
        lambda e: deferLater(clock, 0.3, lambda: "slow"), "during", name="slow", use_weakref=False
    )
    dispatcher.register(broken, "during", match={"kind": "bad"}, use_weakref=False)
    dispatcher.register(
        lambda e: hung, "during", match={"kind": "hang"}, timeout=0.7, name="hang", use_weakref=False
    )
    dispatcher.register(
        lambda e: Deferred(), "during", match={"kind": "cancel"}, name="forever", use_weakref=False
    )
    dispatcher.register(stopper, "before", match={"kind": "stop"}, use_weakref=False)
    for kind in ("fine", "bad", "hang"):
        dispatcher.fire_event("e", kind=kind)
    cancelled = dispatcher.fire_event("e", kind="cancel")
    clock.advance(0.3)
    cancelled.cancel()
    clock.advance(0.4)
    dispatcher.fire_event("e", kind="stop")
    failure_of(cancelled)
    samples = scraped(registry)
    assert value(samples, "event_dispatcher_events_fired_total") == 5
    assert {
        outcome: value(samples, "event_dispatcher_events_finished_total", outcome=outcome)
        for outcome in ("succeeded", "failed", "cancelled")
    } == {"succeeded": 4, "failed": 0, "cancelled": 1}
    assert value(samples, "event_dispatcher_events_in_flight") == 0
    during = {"phase": "during"}
    assert value(samples, "event_dispatcher_handler_failures_total", handler="broken", **during) == 1
    assert value(samples, "event_dispatcher_handler_timeouts_total", handler="hang", **during) == 1
    assert value(samples, "event_dispatcher_handler_cancellations_total", handler="forever", **during) == 1
    assert value(samples, "event_dispatcher_handler_failures_total", handler="stopper", phase="before") == 0
    calls = "event_dispatcher_handler_duration_seconds_count"
    # quick ran for the five fires (before the stopper, registered after it), the stopper once
    assert value(samples, calls, handler="quick", phase="before") == 5
    assert value(samples, calls, handler="stopper", phase="before") == 1
    # slow ran for the four fires not stopped, 0.3 seconds each (the cancelled fire's finished
    # just as it was cancelled)
    slow = {"handler": "slow", **during}
    assert value(samples, calls, **slow) == 4
    assert value(samples, "event_dispatcher_handler_duration_seconds_sum", **slow) == pytest.approx(1.2)
    assert value(samples, "event_dispatcher_handler_duration_seconds_bucket", le="0.1", **slow) == 0
    assert value(samples, "event_dispatcher_handler_duration_seconds_bucket", le="0.5", **slow) == 4
    assert value(samples, "event_dispatcher_handler_duration_seconds_sum", handler="hang", **during) == (
        pytest.approx(0.7)
    )
    # the "during" phases: 0.3 (fine, bad), 0.7 (hang, waiting for its timeout), 0.3 (cancelled)
    assert value(samples, "event_dispatcher_phase_duration_seconds_count", **during) == 4
    assert value(samples, "event_dispatcher_phase_duration_seconds_bucket", le="0.5", **during) == 3
    assert value(samples, "event_dispatcher_phase_duration_seconds_bucket", le="1.0", **during) == 4


@pytest.mark.parametrize("beside", [None, "waits"], ids=["all-synchronous", "beside-a-waiting-handler"])
def test_a_synchronous_handler_is_timed_for_what_it_took(clock: Clock, beside: str | None) -> None:
    """
    A handler that answers synchronously counts the time it ran on the
    dispatcher's clock (here the clock advanced inside it), not 0 seconds:
    on the fast path of a fire whose handlers all answer at once, and on
    a fire another handler makes wait.
    """
    dispatcher, registry, _ = instrumented(clock)

    def busy(event: object) -> str:
        clock.advance(0.3)
        return "done"

    dispatcher.register(busy, "during", use_weakref=False)
    if beside is not None:
        dispatcher.register(
            lambda e: deferLater(clock, 0.05, lambda: None), "before", name=beside, use_weakref=False
        )
    fired = dispatcher.fire_event("e", kind="fine")
    clock.advance(0.05)
    result_of(fired)
    samples = scraped(registry)
    busy_series = {"handler": "busy", "phase": "during"}
    assert value(samples, "event_dispatcher_handler_duration_seconds_count", **busy_series) == 1
    assert value(samples, "event_dispatcher_handler_duration_seconds_sum", **busy_series) == (
        pytest.approx(0.3)
    )
    assert value(samples, "event_dispatcher_handler_duration_seconds_bucket", le="0.1", **busy_series) == 0
    assert value(samples, "event_dispatcher_phase_duration_seconds_sum", phase="during") == pytest.approx(0.3)


def test_a_failed_fire_and_the_events_in_flight(clock: Clock) -> None:
    dispatcher, registry, monitor = instrumented(clock, handler_errors="fail")
    dispatcher.register(broken, "during", match={"kind": "bad"}, use_weakref=False)
    dispatcher.register(
        lambda e: deferLater(clock, 1, lambda: None), "during", match={"kind": "slow"}, use_weakref=False
    )
    failure_of(dispatcher.fire_event("e", kind="bad"))
    pending = [dispatcher.fire_event("e", kind="slow") for _ in range(3)]
    samples = scraped(registry)
    assert value(samples, "event_dispatcher_events_in_flight") == monitor.in_flight == 3
    assert value(samples, "event_dispatcher_events_finished_total", outcome="failed") == 1
    clock.advance(1)
    assert [result_of(fired).succeeded for fired in pending] == [True] * 3
    assert value(scraped(registry), "event_dispatcher_events_in_flight") == 0


def test_refusals_by_a_handler_limit_and_by_the_dispatcher(clock: Clock) -> None:
    """
    A handler's call refused by its max_concurrent is a refusal, not a
    failure nor a call; a fire refused by max_in_flight is counted through
    watch(), which gives the Deferred back unchanged.
    """
    dispatcher, registry, monitor = instrumented(clock, max_in_flight=2, when_full="error")
    dispatcher.register(
        lambda e: deferLater(clock, 1, lambda: None),
        "during",
        match={"kind": "limited"},
        max_concurrent=1,
        when_full="error",
        name="one",
        use_weakref=False,
    )
    dispatcher.register(
        lambda e: deferLater(clock, 1, lambda: None), "during", match={"kind": "hold"}, use_weakref=False
    )
    first = monitor.watch(dispatcher.fire_event("e", kind="limited"))
    second = monitor.watch(dispatcher.fire_event("e", kind="limited"))  # its call of "one" is refused
    held = monitor.watch(dispatcher.fire_event("e", kind="hold"))
    over = monitor.watch(dispatcher.fire_event("e", kind="hold"))  # over max_in_flight
    assert failure_of(over).check(OverloadedError)
    assert not result_of(second).succeeded
    clock.advance(1)
    assert result_of(first).succeeded and result_of(held).succeeded
    samples = scraped(registry)
    assert {
        limit: value(samples, "event_dispatcher_refusals_total", limit=limit)
        for limit in ("service", "dispatcher", "handler")
    } == {"service": 0, "dispatcher": 1, "handler": 1}
    one = {"phase": "during", "handler": "one"}
    assert value(samples, "event_dispatcher_handler_duration_seconds_count", **one) == 1
    assert value(samples, "event_dispatcher_handler_failures_total", **one) == 0
    monitor.refused("service")
    assert value(scraped(registry), "event_dispatcher_refusals_total", limit="service") == 1
    with pytest.raises(ValueError, match="limit must be one of"):
        monitor.refused("everywhere")


def test_labels_never_carry_events_details_or_ids(clock: Clock) -> None:
    dispatcher, registry, _ = instrumented(clock)
    dispatcher.register(quick, "during", use_weakref=False)
    fired = dispatcher.fire({"secret": "hunter2"}, {"kind": "payload-detail"}, fire_id="fire-id-77")
    assert result_of(fired).fire_id == "fire-id-77"
    text = generate_latest(registry).decode()
    assert all(secret not in text for secret in ("hunter2", "payload-detail", "fire-id-77"))
    labels = {
        name for family in text_string_to_metric_families(text) for s in family.samples for name in s.labels
    }
    assert labels == {"outcome", "phase", "handler", "le", "limit"}


def test_handlers_of_one_name_share_their_series(clock: Clock) -> None:
    """
    Series are kept by phase and handler name: registering and removing
    handlers again and again does not grow the output.
    """
    dispatcher, registry, _ = instrumented(clock)
    for _ in range(50):
        handler_id = dispatcher.register(quick, "during", use_weakref=False)
        dispatcher.fire_event("e")
        dispatcher.unregister(handler_id)
    samples = scraped(registry)
    assert (
        value(samples, "event_dispatcher_handler_duration_seconds_count", handler="quick", phase="during")
        == 50
    )
    assert len([key for key in samples if key[0] == "event_dispatcher_handler_failures_total"]) == 1


def test_instrument_refuses_a_second_monitor_of_the_same_names(clock: Clock) -> None:
    dispatcher, registry, _ = instrumented(clock)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        instrument(dispatcher, registry=registry)
    other = instrument(dispatcher, registry=registry, prefix="second")
    dispatcher.fire_event("e")
    samples = scraped(registry)
    assert (
        value(samples, "second_events_fired_total")
        == value(samples, "event_dispatcher_events_fired_total")
        == 1
    )
    assert other.fired == 1


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ((), "at least one finite number"),
        ((1.0, math.inf), "at least one finite number"),
        ((0.5, 0.5), "must increase"),
        ((2, 1), "must increase"),
        ((-1, 0, 1), r"buckets must be positive numbers of seconds, got -1\.0"),
        ((0, 1), r"buckets must be positive numbers of seconds, got 0\.0"),
    ],
)
def test_bad_buckets_are_refused(buckets: tuple[float, ...], message: str) -> None:
    """
    The Python API refuses what the service's ``[metrics] buckets`` refuses
    (bounds that are not positive among them), naming the bad bound; so
    does :class:`BrokerMetrics`, which shares the check.
    """
    with pytest.raises(ValueError, match=message):
        MetricsMonitor(buckets)
    with pytest.raises(ValueError, match=message):
        BrokerMetrics(buckets)


@settings(deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=50))
def test_the_histogram_counts_each_value_at_or_under_each_bound(observed: list[float]) -> None:
    """
    Against the definition: bucket ``le`` counts the values at most ``le``;
    +Inf counts them all; the sum is theirs.
    """
    bounds = check_buckets(DEFAULT_BUCKETS)
    histogram = Histogram(bounds)
    for seconds in observed:
        histogram.observe(seconds)
    expected = [sum(1 for seconds in observed if seconds <= bound) for bound in bounds] + [len(observed)]
    assert [count for _, count in histogram.buckets()] == expected
    assert [le for le, _ in histogram.buckets()][-1] == "+Inf"
    assert histogram.sum == pytest.approx(sum(observed))


def test_the_broker_hook_counts_redeliveries_dead_letters_and_confirms() -> None:
    registry = CollectorRegistry()
    broker = BrokerMetrics(buckets=(0.01, 0.1))
    registry.register(broker)
    for attempt in (1, 2, 3, 1):
        broker.delivered("billing", attempt)
    broker.dead_lettered("billing", "handlers_failed")
    broker.dead_lettered("billing", "handlers_failed")
    broker.dead_lettered("audit", "undecodable")
    broker.confirmed("events", 0.004)
    broker.confirmed("events", 0.05)
    broker.publish_failed("events")
    samples = scraped(registry)
    assert value(samples, "event_dispatcher_broker_redeliveries_total", group="billing") == 2
    dead = "event_dispatcher_broker_dead_letters_total"
    assert value(samples, dead, group="billing", reason="handlers_failed") == 2
    assert value(samples, dead, group="audit", reason="undecodable") == 1
    confirm = "event_dispatcher_broker_publish_confirm_seconds"
    assert value(samples, f"{confirm}_bucket", exchange="events", le="0.01") == 1
    assert value(samples, f"{confirm}_count", exchange="events") == 2
    assert value(samples, f"{confirm}_sum", exchange="events") == pytest.approx(0.054)
    assert value(samples, "event_dispatcher_broker_publish_failures_total", exchange="events") == 1


def test_neither_the_package_nor_the_service_imports_the_observability_modules() -> None:
    """
    Unused, metrics and tracing cost nothing: importing the package, or the
    service (with them off), imports neither module nor their libraries.
    """
    import subprocess
    import sys

    modules = ("twisted_event_dispatcher.metrics", "twisted_event_dispatcher.tracing", "prometheus_client")
    check = (
        "import sys, twisted_event_dispatcher, twisted_event_dispatcher.service; "
        f"print([m for m in {modules!r} + ('opentelemetry',) if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["one", "two"]), st.floats(min_value=0, max_value=2, allow_nan=False)),
        max_size=30,
    )
)
def test_the_hooks_count_durations_as_the_histogram_does(calls: list[tuple[str, float]]) -> None:
    """
    The hooks count a duration in place (the common case, under the first
    bound, without a bisection): each series ends as a `Histogram` that
    observed the same values, whatever the values (at, under and over each
    bound) and however the handlers' ids and phases interleave.
    """
    bounds = (0.1, 0.5, 1.0)
    monitor = MetricsMonitor(bounds)
    dispatcher = EventDispatcher(("kind",), ("before", "during"))
    ids = {
        "one": dispatcher.register(quick, "during", name="one", use_weakref=False),
        "two": dispatcher.register(quick, "before", name="two", use_weakref=False),
    }
    dispatcher.start()
    fire = result_of(dispatcher.fire_event("e"))
    expected = {name: Histogram(bounds) for name in ids}
    for name, seconds in [*calls, ("one", 0.1), ("two", 0.5), ("one", 1.0)]:
        handler_id = ids[name]
        outcome = HandlerOutcome(handler_id, handler_id.phase, "done", None)
        monitor.handler_finished(fire, handler_id, outcome, seconds)
        monitor.phase_finished(fire, handler_id.phase, seconds)
        expected[name].observe(seconds)
    snapshot = monitor.snapshot()
    handlers = {key: series.durations for key, series in snapshot.handlers}
    phases = dict(snapshot.phases)
    for name, handler_id in ids.items():
        for counted in (handlers[(handler_id.phase, name)], phases[handler_id.phase]):
            assert counted.counts == expected[name].counts
            assert counted.sum == pytest.approx(expected[name].sum)


def test_fires_finished_by_outcome_and_in_flight_agree() -> None:
    """
    ``finished`` and ``in_flight`` read the same counts the hooks keep,
    and reading ``finished`` gives a copy.
    """
    monitor = MetricsMonitor()
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    fire = result_of(dispatcher.fire_event("e"))
    for _ in range(6):
        monitor.fire_started(fire)
    monitor.fire_finished(fire, None, 0.0)
    monitor.fire_finished(fire, Failure(ValueError("no")), 0.0)
    monitor.fire_finished(fire, Failure(FireCancelled(fire)), 0.0)
    monitor.fire_finished(fire, None, 0.0)
    finished = monitor.finished
    assert finished == {"succeeded": 2, "failed": 1, "cancelled": 1}
    finished["succeeded"] = 100
    assert monitor.finished["succeeded"] == 2
    assert monitor.in_flight == 2
