"""
How a dispatcher calls its monitors' hooks: every hook a monitor has is
called (even one whose body does nothing) unless the monitor left it as the
base it was built on (``FireMonitor``, ``PhaseMonitor``) has it, a failing hook is logged without
stopping the others, and a handler that answered None is told with one
outcome made once.
"""

from __future__ import annotations

from support import result_of
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.python.failure import Failure
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_event_dispatcher import (
    EventDispatcher,
    FireResult,
    HandlerId,
    HandlerOutcome,
    IFireMonitor,
    IPhaseMonitor,
)
from twisted_event_dispatcher.monitoring import FireMonitor, PhaseMonitor


class CountingClock(Clock):
    """
    A test clock that counts how often it is read.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def seconds(self) -> float:
        self.reads += 1
        return super().seconds()


@implementer(IFireMonitor)
class Silent:
    """
    A monitor each of whose hooks does nothing, written in each way that
    compiles to nothing.
    """

    def fire_started(self, fire: FireResult) -> None:
        pass

    def phase_started(self, fire: FireResult, phase: str) -> None:
        """Nothing."""

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None: ...

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        return None

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        pass

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        pass


@implementer(IFireMonitor)
class HandlersOnly(Silent):
    """
    A monitor that only hears of handlers finishing.
    """

    def __init__(self) -> None:
        self.finished: list[tuple[HandlerId, HandlerOutcome, float]] = []

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        self.finished.append((handler_id, outcome, seconds))


def started(clock: Clock) -> EventDispatcher:
    dispatcher = EventDispatcher(("user",), clock=clock)
    dispatcher.start()
    return dispatcher


def test_a_monitor_whose_hooks_do_nothing_is_still_told_of_everything() -> None:
    dispatcher = started(Clock())
    calls: list[object] = []
    dispatcher.register(calls.append, "during", use_weakref=False)
    monitor = Silent()
    dispatcher.add_monitor(monitor)
    monitors = dispatcher._runner.monitors
    assert monitors is not None
    assert monitors.fire_start == monitor.fire_started
    assert monitors.phase_start == monitor.phase_started
    assert monitors.handler_start == monitor.handler_started
    assert monitors.handler_end == monitor.handler_finished
    assert monitors.phase_end == monitor.phase_finished
    assert monitors.fire_end == monitor.fire_finished
    assert result_of(dispatcher.fire_event("e", user="bob")).values == (None,)
    assert calls == ["e"]


def with_a_slow_handler(clock: Clock, seconds: float) -> tuple[EventDispatcher, HandlerId]:
    """
    A started dispatcher on ``clock`` whose one handler takes ``seconds``.
    """
    dispatcher = started(clock)
    return dispatcher, dispatcher.register(lambda event: clock.advance(seconds), "during", use_weakref=False)


def test_the_hooks_that_do_something_are_still_called_and_timed() -> None:
    clock = CountingClock()
    dispatcher, handler_id = with_a_slow_handler(clock, 2)
    monitor = HandlersOnly()
    dispatcher.add_monitor(monitor)
    result_of(dispatcher.fire_event("e", user="bob"))
    assert monitor.finished == [(handler_id, HandlerOutcome(handler_id, "during", None, None), 2.0)]
    assert clock.reads > 0


def test_a_hook_that_cannot_take_its_arguments_is_called_and_its_failure_logged() -> None:
    @implementer(IFireMonitor)
    class Mistaken(Silent):
        def fire_started(self) -> None:  # type: ignore[override]
            pass

    logged: list[LogEvent] = []

    @implementer(ILogObserver)
    def observe(event: LogEvent) -> None:
        if "log_failure" in event:
            logged.append(event)

    dispatcher = started(Clock())
    dispatcher.register(lambda event: None, "during", use_weakref=False)
    dispatcher.add_monitor(Mistaken())
    globalLogPublisher.addObserver(observe)
    try:
        assert result_of(dispatcher.fire_event("e", user="bob")).values == (None,)
    finally:
        globalLogPublisher.removeObserver(observe)
    assert [event["hook"] for event in logged] == ["fire_started"]
    assert logged[0]["log_failure"].check(TypeError)


def test_many_monitors_are_told_in_turn_and_a_failing_one_does_not_stop_the_others() -> None:
    heard: list[str] = []

    @implementer(IFireMonitor)
    class Broken(Silent):
        def phase_started(self, fire: FireResult, phase: str) -> None:
            raise RuntimeError("broken monitor")

    @implementer(IFireMonitor)
    class Listening(Silent):
        def phase_started(self, fire: FireResult, phase: str) -> None:
            heard.append(phase)

    dispatcher = started(Clock())
    dispatcher.register(lambda event: None, "during", use_weakref=False)
    dispatcher.add_monitor(Broken())
    dispatcher.add_monitor(Listening())
    result_of(dispatcher.fire_event("e", user="bob"))
    assert heard == ["during"]


def test_a_handler_that_answered_none_is_told_with_one_outcome_made_once() -> None:
    dispatcher = started(Clock())
    handler_id = dispatcher.register(lambda event: None, "during", use_weakref=False)
    monitor = HandlersOnly()
    dispatcher.add_monitor(monitor)
    result_of(dispatcher.fire_event("e", user="bob"))
    result_of(dispatcher.fire_event("f", user="amy"))
    (_, first, _), (_, second, _) = monitor.finished
    assert first is second
    assert first == HandlerOutcome(handler_id, "during", None, None, "succeeded")


def test_the_outcomes_kept_are_bounded() -> None:
    dispatcher = started(Clock())
    monitor = HandlersOnly()
    dispatcher.add_monitor(monitor)
    for _ in range(1100):
        dispatcher.register(lambda event: None, "during", use_weakref=False)
    result_of(dispatcher.fire_event("e", user="bob"))
    monitors = dispatcher._runner.monitors
    assert monitors is not None
    assert len(monitor.finished) == 1100
    assert 0 < len(monitors.outcomes) <= 1024


class Finishes(FireMonitor):
    """
    A monitor built on :class:`FireMonitor` that only hears of handlers
    finishing.
    """

    def __init__(self) -> None:
        self.finished: list[tuple[HandlerId, float]] = []

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        self.finished.append((handler_id, seconds))


def test_the_bases_provide_their_interfaces() -> None:
    assert verifyObject(IFireMonitor, FireMonitor())
    assert verifyObject(IPhaseMonitor, PhaseMonitor())
    assert verifyObject(IFireMonitor, Finishes())


def test_the_hooks_a_monitor_leaves_as_fire_monitor_has_them_are_not_called() -> None:
    dispatcher, handler_id = with_a_slow_handler(Clock(), 3)
    monitor = Finishes()
    dispatcher.add_monitor(monitor)
    monitors = dispatcher._runner.monitors
    assert monitors is not None
    assert monitors.handler_end == monitor.handler_finished
    left = (monitors.fire_start, monitors.phase_start, monitors.handler_start, monitors.phase_end)
    assert left == (None, None, None, None)
    assert monitors.fire_end is None
    result_of(dispatcher.fire_event("e", user="bob"))
    assert monitor.finished == [(handler_id, 3.0)]


def test_a_hook_given_to_the_monitor_itself_is_called() -> None:
    dispatcher = started(Clock())
    dispatcher.register(lambda event: None, "during", use_weakref=False)
    monitor = Finishes()
    began: list[FireResult] = []
    monitor.fire_started = began.append  # type: ignore[method-assign]
    dispatcher.add_monitor(monitor)
    result = result_of(dispatcher.fire_event("e", user="bob"))
    assert began == [result]


def test_a_phase_monitor_without_phase_ended_makes_no_reports() -> None:
    class Fires(PhaseMonitor):
        def __init__(self) -> None:
            self.over: list[tuple[object, float]] = []

        def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
            self.over.append((fire.event, seconds))

    dispatcher, _ = with_a_slow_handler(Clock(), 2)
    monitor = Fires()
    dispatcher.add_monitor(monitor)
    monitors = dispatcher._runner.monitors
    assert monitors is not None
    assert (monitors.fire_start, monitors.phase_report) == (None, None)
    result_of(dispatcher.fire_event("e", user="bob"))
    assert monitor.over == [("e", 2.0)]
