"""
A monitor's ``fire_started`` answering False (a sampling monitor passing
over a fire): when it is the dispatcher's only monitor, it hears nothing
more of that fire, whichever loop runs the fire, while other fires are
told in full; beside another monitor, both are told everything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support import result_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_event_dispatcher import (
    EventDispatcher,
    FireResult,
    HandlerId,
    HandlerOutcome,
    IFireMonitor,
    IHandlerLedger,
    IPhaseMonitor,
    PhaseReport,
)

#: The event a Picky monitor passes over.
QUIET = "quiet"


class Picky:
    """
    Records each hook it hears, with the fire's event; answers False to
    ``fire_started`` for the event `QUIET` (None for any other).
    """

    def __init__(self) -> None:
        self.heard: list[tuple[str, object]] = []

    def fire_started(self, fire: FireResult) -> bool | None:
        self.heard.append(("fire_started", fire.event))
        return False if fire.event == QUIET else None

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        self.heard.append(("fire_finished", fire.event))


@implementer(IFireMonitor)
class PickyByCall(Picky):
    def phase_started(self, fire: FireResult, phase: str) -> None:
        self.heard.append(("phase_started", fire.event))

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
        self.heard.append(("handler_started", fire.event))

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        self.heard.append(("handler_finished", fire.event))

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        self.heard.append(("phase_finished", fire.event))


@implementer(IPhaseMonitor)
class PickyByPhase(Picky):
    def phase_ended(self, fire: FireResult, report: PhaseReport) -> None:
        self.heard.append(("phase_ended", fire.event))
        assert len(report.calls) == 1


@implementer(IHandlerLedger)
class Forgetful:
    """
    A ledger that remembers nothing: a fire given it runs in the general
    loop from its start.
    """

    def completed(self, handler_id: HandlerId) -> bool:
        return False

    def record(self, handler_id: HandlerId) -> None:
        pass


def fire_plainly(dispatcher: EventDispatcher, event: str) -> Deferred[FireResult]:
    dispatcher.register(lambda event: None, "during", match={"kind": event})
    return dispatcher.fire_event(event, kind=event)


def fire_answered_later(dispatcher: EventDispatcher, event: str) -> Deferred[FireResult]:
    """
    The tight loop hands the fire over when the handler answers a Deferred
    not fired yet.
    """
    answer: Deferred[None] = Deferred()
    dispatcher.register(lambda event: answer, "during", match={"kind": event})
    fired = dispatcher.fire_event(event, kind=event)
    answer.callback(None)
    return fired


def fire_with_a_timeout(dispatcher: EventDispatcher, event: str) -> Deferred[FireResult]:
    """
    The tight loop hands the fire over before calling a handler with a timeout.
    """
    dispatcher.register(lambda event: None, "during", match={"kind": event}, timeout=5)
    return dispatcher.fire_event(event, kind=event)


def fire_with_a_ledger(dispatcher: EventDispatcher, event: str) -> Deferred[FireResult]:
    """
    The general loop runs the fire from its start.
    """
    dispatcher.register(lambda event: None, "during", match={"kind": event})
    return dispatcher.fire(event, {"kind": event}, ledger=Forgetful())


FIRES: dict[str, Callable[[EventDispatcher, str], Deferred[FireResult]]] = {
    "tight loop": fire_plainly,
    "handed over with an answer": fire_answered_later,
    "handed over before a call": fire_with_a_timeout,
    "general loop": fire_with_a_ledger,
}


def told_in_full(monitor: Picky, event: str) -> list[tuple[str, object]]:
    if isinstance(monitor, PickyByCall):
        hooks = ["phase_started", "handler_started", "handler_finished", "phase_finished"]
    else:
        hooks = ["phase_ended"]
    return [(hook, event) for hook in ["fire_started", *hooks, "fire_finished"]]


def dispatcher_with(*monitors: object) -> EventDispatcher:
    dispatcher = EventDispatcher(("kind",), clock=Clock())
    dispatcher.start()
    for monitor in monitors:
        dispatcher.add_monitor(monitor)
    return dispatcher


@pytest.mark.parametrize("kind", [PickyByCall, PickyByPhase])
@pytest.mark.parametrize("fire", list(FIRES))
def test_a_fire_its_only_monitor_passes_over_is_not_told_further(kind: type[Picky], fire: str) -> None:
    monitor = kind()
    dispatcher = dispatcher_with(monitor)
    result_of(FIRES[fire](dispatcher, QUIET))
    result_of(FIRES[fire](dispatcher, "loud"))
    assert monitor.heard == [("fire_started", QUIET), *told_in_full(monitor, "loud")]


@pytest.mark.parametrize("fire", list(FIRES))
def test_beside_another_monitor_a_monitor_that_passes_over_a_fire_is_told_it_all(fire: str) -> None:
    by_call, by_phase = PickyByCall(), PickyByPhase()
    dispatcher = dispatcher_with(by_call, by_phase)
    result_of(FIRES[fire](dispatcher, QUIET))
    assert by_call.heard == told_in_full(by_call, QUIET)
    assert by_phase.heard == told_in_full(by_phase, QUIET)


def test_a_fire_passed_over_still_runs_its_handlers_and_follow_ups() -> None:
    """
    Passing over a fire changes what the monitor hears, not what runs: the
    follow-up a passed-over fire queues is a fire of its own, told in full.
    """
    monitor = PickyByPhase()
    dispatcher = dispatcher_with(monitor)
    ran: list[Any] = []

    def quiet(event: object, context: Any) -> None:
        ran.append(event)
        context.follow_up("loud", kind="loud")

    dispatcher.register(quiet, "during", match={"kind": QUIET}, pass_context=True)
    dispatcher.register(ran.append, "during", match={"kind": "loud"})
    result = result_of(dispatcher.fire_event(QUIET, kind=QUIET))
    assert ran == [QUIET, "loud"]
    assert [follow_up.event for follow_up in result.follow_ups] == ["loud"]
    assert monitor.heard == [("fire_started", QUIET), *told_in_full(monitor, "loud")]
