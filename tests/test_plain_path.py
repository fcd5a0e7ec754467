"""
While nothing stands in its way, a dispatcher's ``fire_event`` is its tight
loop itself; start, stop, monitors and limits decide that.  A state machine
drives a dispatcher through every such change (start, stop, handlers with
options, monitors, fires with a nested policy, stops made by a handler) and
checks, after each step, that fires through either entry point reach the
handlers a simple model says, or are refused when it says so.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from support import SilentMonitor, failure_of, result_of
from twisted.internet.task import Clock

from twisted_event_dispatcher import DispatcherNotRunning, EventDispatcher, HandlerId


class PlainPath(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}
        self.ids: dict[str, HandlerId] = {}
        self.monitors: list[SilentMonitor] = []
        self.running = False

    @initialize(options=st.sampled_from([{}, {"handler_errors": "fail"}, {"nested": "queue"}]))
    def make(self, options: dict[str, Any]) -> None:
        self.dispatcher = EventDispatcher(("role",), clock=Clock(), **options)

    def counter(self, name: str) -> Any:
        def count(event: object) -> None:
            self.calls[name] += 1

        count.__qualname__ = count.__name__ = name
        return count

    @rule()
    def start(self) -> None:
        self.dispatcher.start()
        self.running = True

    @rule()
    def stop(self) -> None:
        result_of(self.dispatcher.stop())
        self.running = False

    @rule(special=st.booleans())
    def register(self, special: bool) -> None:
        name = f"h{len(self.calls)}"
        self.calls[name] = 0
        options: dict[str, Any] = {"priority": 1} if special else {}
        self.ids[name] = self.dispatcher.register(self.counter(name), "during", use_weakref=False, **options)

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def unregister(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.ids)))
        self.dispatcher.unregister(self.ids.pop(name))

    @rule()
    def add_monitor(self) -> None:
        monitor = SilentMonitor()
        self.monitors.append(monitor)
        self.dispatcher.add_monitor(monitor)

    @precondition(lambda self: self.monitors)
    @rule()
    def remove_monitor(self) -> None:
        self.dispatcher.remove_monitor(self.monitors.pop())

    @rule(nested=st.sampled_from([None, "immediate", "queue"]), entry=st.sampled_from(["fire", "fire_event"]))
    def fire(self, nested: Any, entry: str) -> None:
        before = dict(self.calls)
        if entry == "fire":
            fired = self.dispatcher.fire("e", nested=nested)
        else:
            fired = self.dispatcher.fire_event("e")
        if not self.running:
            failure_of(fired).trap(DispatcherNotRunning)
            assert self.calls == before
            return
        result_of(fired)
        assert self.calls == {name: count + (name in self.ids) for name, count in before.items()}

    @precondition(lambda self: self.running)
    @rule(nested=st.sampled_from([None, "immediate"]))
    def stop_from_a_handler(self, nested: Any) -> None:
        """
        A handler of this fire stops the dispatcher; the fire still finishes.
        """
        dispatcher = self.dispatcher
        stops = []
        stopper = dispatcher.register(lambda e: stops.append(dispatcher.stop()), "after", use_weakref=False)
        result_of(dispatcher.fire("e", nested=nested))
        dispatcher.unregister(stopper)
        assert result_of(stops[0]) is None
        self.running = False
        self.calls = {name: count + (name in self.ids) for name, count in self.calls.items()}

    @invariant()
    def running_as_the_model_says(self) -> None:
        assert bool(self.dispatcher.running) == self.running

    @invariant()
    def nothing_left_in_flight(self) -> None:
        assert self.dispatcher.in_flight() == []


PlainPath.TestCase.settings = settings(deadline=None, max_examples=150, stateful_step_count=30)
test_plain_path = PlainPath.TestCase
