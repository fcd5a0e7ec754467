"""
Tests for the dispatcher's lifecycle, re-entrancy, and its zope and Twisted
service integration.
"""

from __future__ import annotations

from typing import Any

import pytest
from support import failure_of, result_of
from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from zope.interface.registry import Components
from zope.interface.verify import verifyObject

from twisted_event_dispatcher import (
    DispatcherNotRunning,
    EventDispatcher,
    IBackgroundUtility,
    IEventDispatcher,
    UnknownKeywordError,
)

# Lifecycle


def test_not_started_dispatcher_refuses_events_and_calls_nothing() -> None:
    dispatcher = EventDispatcher(("user",))
    calls: list[object] = []
    dispatcher.register(calls.append, "during", use_weakref=False)
    assert dispatcher.running is False
    failure = failure_of(dispatcher.fire_event("e", user="bob"))
    assert failure.check(DispatcherNotRunning)
    assert isinstance(failure.value, RuntimeError)
    assert "'e' was refused" in failure.getErrorMessage()
    assert calls == []


def test_stopped_dispatcher_still_checks_arguments_at_the_call() -> None:
    """
    A caller's mistake is reported as such, whether or not the dispatcher runs.
    """
    dispatcher = EventDispatcher(("user",))
    with pytest.raises(UnknownKeywordError):
        dispatcher.fire_event("e", colour="blue")
    with pytest.raises(TypeError):
        dispatcher.fire_event("e", user=["unhashable"])


def test_stop_refuses_new_events_at_once_and_waits_for_in_flight(clock: Clock) -> None:
    dispatcher = EventDispatcher(("user",))
    dispatcher.start()
    calls: list[object] = []
    dispatcher.register(lambda e: deferLater(clock, 3, calls.append, e), "during", use_weakref=False)
    in_flight = dispatcher.fire_event("in flight")
    stopped = dispatcher.stop()
    assert dispatcher.running is False
    assert failure_of(dispatcher.fire_event("late")).check(DispatcherNotRunning)
    clock.advance(2)
    assert not stopped.called
    clock.advance(1)
    assert calls == ["in flight"]
    assert result_of(in_flight).event == "in flight"
    assert result_of(stopped) is None


def test_stop_with_nothing_in_flight_fires_at_once(dispatcher: EventDispatcher) -> None:
    assert result_of(dispatcher.stop()) is None


def test_start_after_stop_works(dispatcher: EventDispatcher) -> None:
    calls: list[object] = []
    dispatcher.register(calls.append, "during", use_weakref=False)
    dispatcher.stop()
    dispatcher.start()
    dispatcher.start()
    assert dispatcher.running is True
    result_of(dispatcher.fire_event("again"))
    assert calls == ["again"]


def test_restart_does_not_make_an_earlier_stop_wait_for_new_events(clock: Clock) -> None:
    """
    stop() waits for the events in flight when it was called, not for events
    fired after a later start().
    """
    dispatcher = EventDispatcher(("user",))
    dispatcher.start()
    dispatcher.register(lambda e: deferLater(clock, e, lambda: None), "during", use_weakref=False)
    dispatcher.fire_event(1)
    stopped = dispatcher.stop()
    dispatcher.start()
    dispatcher.fire_event(5)
    clock.advance(1)
    assert result_of(stopped) is None


def test_stop_from_inside_a_handler_waits_for_that_event(dispatcher: EventDispatcher) -> None:
    stops: list[Deferred[None]] = []
    calls: list[str] = []
    dispatcher.register(lambda e: stops.append(dispatcher.stop()), "during", use_weakref=False)
    dispatcher.register(lambda e: calls.append("after ran"), "after", use_weakref=False)

    def after_stop_fired(_: None) -> None:
        calls.append("stop fired")

    fired = dispatcher.fire_event("e")
    (stopped,) = stops
    assert calls == ["after ran"]
    stopped.addCallback(after_stop_fired)
    assert calls == ["after ran", "stop fired"]
    result_of(fired)


def test_stop_inside_a_fire_with_a_nested_policy_refuses_later_fires(
    dispatcher: EventDispatcher,
) -> None:
    """
    fire(nested=...) sets the policy for its call only; a stop() made by
    one of its handlers still holds once the call returns.
    """
    stops: list[Deferred[None]] = []
    dispatcher.register(lambda e: stops.append(dispatcher.stop()), "during", use_weakref=False)
    result_of(dispatcher.fire("e", nested="immediate"))
    assert result_of(stops[0]) is None
    assert not dispatcher.running
    failure_of(dispatcher.fire_event("later")).trap(DispatcherNotRunning)


def test_fire_deferred_fires_before_the_stop_that_waits_for_it() -> None:
    dispatcher = EventDispatcher(("user",))
    dispatcher.start()
    gate: Deferred[None] = Deferred()
    order: list[str] = []
    dispatcher.register(lambda e: gate, "during", use_weakref=False)
    dispatcher.fire_event("e").addCallback(lambda _: order.append("fire_event fired"))
    dispatcher.stop().addCallback(lambda _: order.append("stop fired"))
    gate.callback(None)
    assert order == ["fire_event fired", "stop fired"]


def test_base_exception_propagates_and_leaves_nothing_in_flight(dispatcher: EventDispatcher) -> None:
    """
    A handler raising KeyboardInterrupt is not caught (it is not a handler
    failure), and the fire is not left in flight for stop() to wait on.
    """

    def interrupted(event: object) -> None:
        raise KeyboardInterrupt

    dispatcher.register(interrupted, "during", use_weakref=False)
    with pytest.raises(KeyboardInterrupt):
        dispatcher.fire_event("e")
    assert dispatcher.in_flight() == []
    assert result_of(dispatcher.stop()) is None


def test_several_stops_each_fire(clock: Clock) -> None:
    dispatcher = EventDispatcher(("user",))
    dispatcher.start()
    dispatcher.register(lambda e: deferLater(clock, 1, lambda: None), "during", use_weakref=False)
    dispatcher.fire_event("e")
    first, second = dispatcher.stop(), dispatcher.stop()
    clock.advance(1)
    assert result_of(first) is None and result_of(second) is None


# Re-entrancy


def test_handler_may_fire_and_wait_for_another_event(dispatcher: EventDispatcher, clock: Clock) -> None:
    calls: list[object] = []

    def outer(event: object) -> Any:
        if event == "outer":
            return dispatcher.fire_event("inner", role="inner")
        return None

    dispatcher.register(outer, "during", use_weakref=False)
    dispatcher.register(
        lambda e: deferLater(clock, 1, calls.append, e), "during", match={"role": "inner"}, use_weakref=False
    )
    dispatcher.register(lambda e: calls.append(f"after {e}"), "after", use_weakref=False)
    fired = dispatcher.fire_event("outer")
    assert calls == []
    clock.advance(1)
    assert calls == ["inner", "after inner", "after outer"]
    (inner_result,) = [o.value for o in result_of(fired).phases["during"]]
    assert inner_result.event == "inner"  # type: ignore[attr-defined]


def test_handler_added_during_dispatch_sees_only_later_events(dispatcher: EventDispatcher) -> None:
    calls: list[object] = []
    added: list[object] = []

    def adder(event: object) -> None:
        added.append(dispatcher.register(calls.append, "after", use_weakref=False))
        added.append(dispatcher.register(calls.append, "before", use_weakref=False))

    dispatcher.register(adder, "before", use_weakref=False)
    dispatcher.fire_event("first")
    assert calls == []
    assert len(added) == 2
    dispatcher.fire_event("second")
    # The two handlers added during "first" see "second"; the two added during
    # "second" (in its 'before' phase) do not, not even in its 'after' phase.
    assert calls == ["second", "second"]
    assert len(added) == 4


def test_removal_during_dispatch_takes_effect_at_once(dispatcher: EventDispatcher) -> None:
    calls: list[str] = []
    victims: list[Any] = []

    def remover(event: object) -> None:
        for victim in victims:
            dispatcher.unregister(victim)

    dispatcher.register(remover, "during", use_weakref=False)
    victims.append(dispatcher.register(lambda e: calls.append("same phase"), "during", use_weakref=False))
    victims.append(dispatcher.register(lambda e: calls.append("later phase"), "after", use_weakref=False))
    result = result_of(dispatcher.fire_event("e"))
    assert calls == []
    assert len(result) == 1


def test_removal_during_async_phase_stops_the_later_phase(dispatcher: EventDispatcher) -> None:
    gate: Deferred[None] = Deferred()
    calls: list[str] = []
    dispatcher.register(lambda e: gate, "during", use_weakref=False)
    victim = dispatcher.register(lambda e: calls.append("after"), "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    dispatcher.unregister(victim)
    gate.callback(None)
    assert calls == []
    assert result_of(fired).values == (None,)


def test_events_in_flight_are_independent(dispatcher: EventDispatcher, clock: Clock) -> None:
    """
    A slow handler of one event does not hold up another event.
    """
    calls: list[object] = []
    dispatcher.register(
        lambda e: deferLater(clock, 10, calls.append, e), "during", match={"role": "slow"}, use_weakref=False
    )
    dispatcher.register(lambda e: calls.append(f"after {e}"), "after", use_weakref=False)
    slow = dispatcher.fire_event("slow", role="slow")
    quick = dispatcher.fire_event("quick", role="quick")
    assert calls == ["after quick"]
    assert result_of(quick).event == "quick"
    assert not slow.called
    clock.advance(10)
    assert calls == ["after quick", "slow", "after slow"]


# zope and Twisted integration


def test_provides_its_interfaces() -> None:
    dispatcher = EventDispatcher(("user",))
    assert verifyObject(IEventDispatcher, dispatcher)
    assert verifyObject(IBackgroundUtility, dispatcher)
    assert verifyObject(IService, dispatcher)


def test_registered_as_a_zope_utility() -> None:
    registry = Components()
    users = EventDispatcher(("user",))
    orders = EventDispatcher(("order",))
    registry.registerUtility(users, IEventDispatcher)
    registry.registerUtility(orders, IEventDispatcher, name="orders")
    assert registry.getUtility(IEventDispatcher) is users
    assert registry.getUtility(IEventDispatcher, name="orders") is orders


def test_registered_with_zope_component_global_site_manager() -> None:
    zope_component = pytest.importorskip("zope.component")
    manager = zope_component.getGlobalSiteManager()
    dispatcher = EventDispatcher(("user",))
    manager.registerUtility(dispatcher, IEventDispatcher, name="test-global")
    try:
        assert zope_component.getUtility(IEventDispatcher, name="test-global") is dispatcher
    finally:
        assert manager.unregisterUtility(dispatcher, IEventDispatcher, name="test-global")


def test_started_and_stopped_by_a_multiservice(clock: Clock) -> None:
    parent = MultiService()
    dispatcher = EventDispatcher(("user",))
    dispatcher.setName("events")
    dispatcher.setServiceParent(parent)
    dispatcher.register(lambda e: deferLater(clock, 1, lambda: None), "during", use_weakref=False)
    parent.startService()
    assert dispatcher.running is True
    assert parent.getServiceNamed("events") is dispatcher
    dispatcher.fire_event("e")
    stopped = parent.stopService()
    assert dispatcher.running is False
    assert not stopped.called
    clock.advance(1)
    assert result_of(stopped) == [(True, None)]
