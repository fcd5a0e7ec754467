"""
IPhaseMonitor: told once per phase, with each call the phase made, whether
the tight loop ran the phase, a run did, or the tight loop handed the fire
to a run in the middle of it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support import failure_of, result_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_event_dispatcher import (
    EventDispatcher,
    FireCancelled,
    FireResult,
    HandlerId,
    HandlerOutcome,
    IFireMonitor,
    IPhaseMonitor,
    PhaseCall,
    PhaseReport,
    StopPropagation,
)


@implementer(IPhaseMonitor)
class PhaseRecorder:
    """
    Keeps what it hears: each phase's report, read in the hook (its calls
    made there) unless ``lazy``, in which case the calls are read only
    when the test asks.
    """

    def __init__(self, lazy: bool = False) -> None:
        self.heard: list[tuple[str, object]] = []
        self.lazy = lazy

    def fire_started(self, fire: FireResult) -> None:
        self.heard.append(("fire_started", fire.event))

    def phase_ended(self, fire: FireResult, report: PhaseReport) -> None:
        if not self.lazy:
            report.calls  # noqa: B018 - made now, in the hook
        self.heard.append(("phase_ended", report))

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        self.heard.append(("fire_finished", (failure.type if failure else None, seconds)))

    def reports(self) -> list[PhaseReport]:
        return [report for what, report in self.heard if what == "phase_ended"]  # type: ignore[misc]


def calls_of(report: PhaseReport) -> list[tuple[str, str, float, float]]:
    return [
        (handler_id.name, outcome.status, offset, seconds)
        for handler_id, outcome, offset, seconds in report.calls
    ]


def started(clock: Clock, **options: Any) -> EventDispatcher:
    dispatcher = EventDispatcher(("role",), ("before", "during", "after"), clock=clock, **options)
    dispatcher.start()
    return dispatcher


def taking(clock: Clock, seconds: float) -> Any:
    def handler(event: object) -> None:
        clock.advance(seconds)

    return handler


def test_a_phase_monitor_provides_its_interface() -> None:
    assert verifyObject(IPhaseMonitor, PhaseRecorder())


def test_the_tight_loop_reports_each_phase_with_its_calls(clock: Clock) -> None:
    """
    Handlers answering at once: one report per phase that had handlers,
    with each call's start (after the fire began) and duration on the
    dispatcher's clock, then the fire's end.
    """
    dispatcher = started(clock)
    monitor = PhaseRecorder()
    dispatcher.add_monitor(monitor)
    dispatcher.register(taking(clock, 1), "before", name="one", use_weakref=False)
    dispatcher.register(taking(clock, 2), "before", name="two", use_weakref=False)
    dispatcher.register(taking(clock, 4), "after", name="three", use_weakref=False)
    result_of(dispatcher.fire_event("e"))
    first, second = monitor.reports()
    assert (first.phase, first.offset, first.seconds) == ("before", 0.0, 3.0)
    assert calls_of(first) == [("one", "succeeded", 0.0, 1.0), ("two", "succeeded", 1.0, 2.0)]
    assert (second.phase, second.offset, second.seconds) == ("after", 3.0, 4.0)
    assert calls_of(second) == [("three", "succeeded", 3.0, 4.0)]
    assert monitor.heard[0] == ("fire_started", "e")
    assert monitor.heard[-1] == ("fire_finished", (None, 7.0))


def test_calls_read_after_the_fire_are_those_of_their_phase(clock: Clock) -> None:
    """
    A report's calls, made only when asked for, are the same when asked
    for after the fire is over: they never take in a later phase's.
    """
    dispatcher = started(clock)
    monitor = PhaseRecorder(lazy=True)
    dispatcher.add_monitor(monitor)
    dispatcher.register(lambda event: "a", "before", name="a", use_weakref=False)
    dispatcher.register(taking(clock, 1), "during", name="b", use_weakref=False)
    dispatcher.register(taking(clock, 1), "during", name="c", use_weakref=False)
    result_of(dispatcher.fire_event("e"))
    before, during = monitor.reports()
    assert [outcome.value for _, outcome, _, _ in before.calls] == ["a"]
    assert calls_of(during) == [("b", "succeeded", 0.0, 1.0), ("c", "succeeded", 1.0, 1.0)]
    assert before.calls is before.calls  # made once


def test_a_run_reports_waiting_calls_when_the_phase_ends(clock: Clock) -> None:
    """
    Handlers that wait: the phase is reported once the last has
    finished, its calls in the order they finished.
    """
    dispatcher = started(clock)
    monitor = PhaseRecorder()
    dispatcher.add_monitor(monitor)
    slow: Deferred[None] = Deferred()
    quick: Deferred[None] = Deferred()
    dispatcher.register(lambda event: slow, "during", name="slow", use_weakref=False)
    dispatcher.register(lambda event: quick, "during", name="quick", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(2)
    quick.callback(None)
    assert monitor.reports() == []
    clock.advance(3)
    slow.callback(None)
    result_of(fired)
    (report,) = monitor.reports()
    assert (report.phase, report.offset, report.seconds) == ("during", 0.0, 5.0)
    assert calls_of(report) == [("quick", "succeeded", 0.0, 2.0), ("slow", "succeeded", 0.0, 5.0)]


def test_a_phase_handed_from_the_tight_loop_to_a_run_keeps_its_first_calls(clock: Clock) -> None:
    """
    The tight loop calls the first handler, the second waits: one report
    holds both calls, and the phases before and after are reported too.
    """
    dispatcher = started(clock)
    monitor = PhaseRecorder()
    dispatcher.add_monitor(monitor)
    waiting: Deferred[None] = Deferred()
    dispatcher.register(taking(clock, 1), "before", name="early", use_weakref=False)
    dispatcher.register(taking(clock, 1), "during", name="plain", use_weakref=False)
    dispatcher.register(lambda event: waiting, "during", name="waits", use_weakref=False)
    dispatcher.register(taking(clock, 1), "after", name="late", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(5)
    waiting.callback(None)
    result_of(fired)
    before, during, after = monitor.reports()
    assert calls_of(before) == [("early", "succeeded", 0.0, 1.0)]
    assert (during.offset, during.seconds) == (1.0, 6.0)
    assert calls_of(during) == [("plain", "succeeded", 1.0, 1.0), ("waits", "succeeded", 2.0, 5.0)]
    assert calls_of(after) == [("late", "succeeded", 7.0, 1.0)]
    assert monitor.heard[-1] == ("fire_finished", (None, 8.0))


def test_a_handler_with_options_met_mid_phase_keeps_the_times(clock: Clock) -> None:
    """
    A handler called with a context sends the fire to a run in the middle
    of its phase: the phase and fire durations still count from their
    starts (not from when the run took over).
    """
    dispatcher = started(clock)
    monitor = PhaseRecorder()
    dispatcher.add_monitor(monitor)
    dispatcher.register(taking(clock, 1), "during", name="plain", use_weakref=False)
    dispatcher.register(
        lambda event, context: clock.advance(2), "during", name="told", pass_context=True, use_weakref=False
    )
    result_of(dispatcher.fire_event("e"))
    (report,) = monitor.reports()
    assert (report.offset, report.seconds) == (0.0, 3.0)
    assert calls_of(report) == [("plain", "succeeded", 0.0, 1.0), ("told", "succeeded", 1.0, 2.0)]
    assert monitor.heard[-1] == ("fire_finished", (None, 3.0))


def test_failures_stops_and_timeouts_are_in_the_outcomes(clock: Clock) -> None:
    dispatcher = started(clock)
    monitor = PhaseRecorder()
    dispatcher.add_monitor(monitor)

    def fails(event: object) -> None:
        raise ValueError("no")

    def stops(event: object) -> None:
        raise StopPropagation()

    dispatcher.register(fails, "before", name="fails", use_weakref=False)
    dispatcher.register(lambda event: Deferred(), "before", name="hangs", timeout=3, use_weakref=False)
    dispatcher.register(stops, "during", name="stops", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(3)
    result_of(fired)
    before, during = monitor.reports()
    assert calls_of(before) == [("fails", "failed", 0.0, 0.0), ("hangs", "timed_out", 0.0, 3.0)]
    failure = before.calls[0][1].failure
    assert failure is not None and failure.check(ValueError)
    ((_, stopped, _, _),) = during.calls
    assert stopped.failure is not None and stopped.failure.check(StopPropagation)


def test_a_cancelled_fire_reports_its_phase_before_it_finishes(clock: Clock) -> None:
    dispatcher = started(clock)
    monitor = PhaseRecorder()
    dispatcher.add_monitor(monitor)
    dispatcher.register(lambda event: Deferred(), "during", name="hangs", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(1)
    fired.cancel()
    failure_of(fired, FireCancelled)
    (report,) = monitor.reports()
    assert calls_of(report) == [("hangs", "cancelled", 0.0, 1.0)]
    assert monitor.heard[-1] == ("fire_finished", (FireCancelled, 1.0))


def test_a_monitor_that_raises_is_logged_and_the_fire_goes_on(
    clock: Clock, logs: list[dict[str, Any]]
) -> None:
    @implementer(IPhaseMonitor)
    class Broken(PhaseRecorder):
        def phase_ended(self, fire: FireResult, report: PhaseReport) -> None:
            raise RuntimeError("broken monitor")

    dispatcher = started(clock)
    dispatcher.add_monitor(Broken())
    dispatcher.register(lambda event: "value", "during", use_weakref=False)
    assert result_of(dispatcher.fire_event("e")).values == ("value",)
    (logged,) = [event for event in logs if event.get("log_failure") is not None]
    assert logged["hook"] == "phase_ended"
    assert logged["log_failure"].check(RuntimeError)


def test_per_call_and_per_phase_monitors_are_told_side_by_side(clock: Clock) -> None:
    @implementer(IFireMonitor)
    class PerCall:
        def __init__(self) -> None:
            self.heard: list[str] = []

        def fire_started(self, fire: FireResult) -> None:
            self.heard.append("fire_started")

        def phase_started(self, fire: FireResult, phase: str) -> None:
            self.heard.append("phase_started")

        def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
            self.heard.append("handler_started")

        def handler_finished(
            self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
        ) -> None:
            self.heard.append("handler_finished")

        def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
            self.heard.append("phase_finished")

        def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
            self.heard.append("fire_finished")

    dispatcher = started(clock)
    per_call, per_phase = PerCall(), PhaseRecorder()
    dispatcher.add_monitor(per_call)
    dispatcher.add_monitor(per_phase)
    dispatcher.register(lambda event: None, "during", name="h", use_weakref=False)
    result_of(dispatcher.fire_event("e"))
    assert per_call.heard == [
        "fire_started",
        "phase_started",
        "handler_started",
        "handler_finished",
        "phase_finished",
        "fire_finished",
    ]
    (report,) = per_phase.reports()
    assert [handler_id.name for handler_id, _, _, _ in report.calls] == ["h"]
    dispatcher.remove_monitor(per_phase)
    result_of(dispatcher.fire_event("e"))
    assert len(per_phase.reports()) == 1


def test_a_monitor_of_both_interfaces_is_told_per_phase(logs: list[dict[str, Any]]) -> None:
    @implementer(IPhaseMonitor, IFireMonitor)
    class Both(PhaseRecorder):
        def phase_started(self, fire: FireResult, phase: str) -> None:
            raise AssertionError("told per call")

        def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
            raise AssertionError("told per call")

        def handler_finished(
            self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
        ) -> None:
            raise AssertionError("told per call")

        def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
            raise AssertionError("told per call")

    clock = Clock()
    dispatcher = started(clock)
    monitor = Both()
    dispatcher.add_monitor(monitor)
    dispatcher.register(lambda event: None, "during", use_weakref=False)
    result_of(dispatcher.fire_event("e"))
    assert len(monitor.reports()) == 1
    assert [event for event in logs if event.get("log_failure") is not None] == []


def test_a_report_made_by_hand_gives_its_calls() -> None:
    handler_id = EventDispatcher(("role",)).register(lambda event: None, "during", use_weakref=False)
    call: PhaseCall = (handler_id, HandlerOutcome(handler_id, "during", None, None), 0.5, 0.25)
    report = PhaseReport("during", 0.5, 0.25, [call])
    assert (report.phase, report.offset, report.seconds, list(report.calls)) == ("during", 0.5, 0.25, [call])
    assert repr(report) == "<PhaseReport 'during' at +0.5s for 0.25s, 1 call(s)>"
    inexact = PhaseReport("during", 0.1, 0.2, [])  # (0.1 + 0.2) - 0.1 is not 0.2
    assert (inexact.offset, inexact.seconds) == (0.1, 0.2)


# What each handler does in the property below: answer at once after some
# time, fail, or wait some time for a Deferred.
KINDS = st.sampled_from(["at_once", "fails", "waits"])


@settings(deadline=None, max_examples=60)
@given(phases=st.lists(st.lists(st.tuples(KINDS, st.integers(0, 3)), max_size=4), min_size=3, max_size=3))
def test_reports_agree_with_the_fire_result(phases: list[list[tuple[str, int]]]) -> None:
    """
    Whatever the handlers do, each phase with handlers is reported once,
    in order, with one call per handler the fire result lists for it, of
    the same status; offsets and durations fit within the phase.
    """
    clock = Clock()
    dispatcher = started(clock)
    monitor = PhaseRecorder(lazy=True)
    dispatcher.add_monitor(monitor)
    waiting: list[tuple[int, Deferred[None]]] = []
    for phase, handlers in zip(("before", "during", "after"), phases, strict=True):
        for number, (kind, seconds) in enumerate(handlers):
            dispatcher.register(
                _handler(kind, seconds, clock, waiting), phase, name=f"{phase}{number}", use_weakref=False
            )
    fired = dispatcher.fire_event("e")
    for _ in range(100):  # each step lets the soonest waiting handler finish
        if not waiting:
            break
        waiting.sort(key=lambda entry: entry[0])
        seconds, deferred = waiting.pop(0)
        clock.advance(seconds)
        deferred.callback(None)
    result = result_of(fired)
    reports = monitor.reports()
    assert [report.phase for report in reports] == list(result.phases)
    for report in reports:
        outcomes = result.phases[report.phase]
        assert sorted((c[0].name, c[1].status) for c in report.calls) == sorted(
            (o.handler_id.name, o.status) for o in outcomes
        )
        for _, _, offset, took in report.calls:
            assert report.offset <= offset
            assert offset + took <= report.offset + report.seconds
    assert [what for what, _ in monitor.heard][-1] == "fire_finished"


def _handler(kind: str, seconds: int, clock: Clock, waiting: list[tuple[int, Deferred[None]]]) -> Any:
    def handler(event: object) -> object:
        if kind == "fails":
            raise ValueError("fails")
        if kind == "waits":
            deferred: Deferred[None] = Deferred()
            waiting.append((seconds, deferred))
            return deferred
        clock.advance(seconds)
        return None

    return handler
