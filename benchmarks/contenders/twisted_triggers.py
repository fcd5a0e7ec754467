"""
Twisted's own system-event triggers: ``addSystemEventTrigger(phase, event_type, f, *args)``
and ``fireSystemEvent(event_type)``, on a ``ReactorBase`` that is never run.

They have native phases (before, during, after; only ``before`` triggers are
waited for) and the event type is their filter.  Triggers are one-shot: a fire
pops them, so each fire here puts them back afterwards (a list copy and a slice
assignment, a few ns per trigger, counted in the time).  The event object is
bound when a trigger is added: ``fireSystemEvent`` passes no argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._kit import Contender, Event, Hits, Rig, Wired, answering, counting, spare_pairs

TYPE = "bench"
PHASES = ("before", "during", "after")


def _reactor() -> Any:
    from twisted.internet.base import ReactorBase

    class IdleReactor(ReactorBase):
        """
        A reactor that is never run, so it needs no waker.
        """

        def installWaker(self) -> None:
            pass

    return IdleReactor()


def _refiring(reactor: Any) -> Callable[[object], None]:
    """
    Fire an event type and put its triggers back for the next fire.
    """
    triggers = reactor._eventTriggers
    fire = reactor.fireSystemEvent

    def refire(event_type: object) -> None:
        phases = triggers.get(event_type)
        if phases is None:
            return
        armed = (list(phases.before), list(phases.during), list(phases.after))
        fire(event_type)
        phases.before[:], phases.during[:], phases.after[:] = armed

    return refire


def _one_type(handlers: Sequence[Callable[[Any], object]], phases: Sequence[str]) -> Callable[[], None]:
    reactor = _reactor()
    event = Event()
    for handler, phase in zip(handlers, phases, strict=True):
        reactor.addSystemEventTrigger(phase, TYPE, handler, event)
    refire = _refiring(reactor)
    return lambda: refire(TYPE)


class TwistedTriggers(Contender):
    name = "twisted_triggers"
    title = "Twisted fireSystemEvent"
    dists = ("twisted",)
    about = "ReactorBase.addSystemEventTrigger / fireSystemEvent, triggers put back after each fire"
    imports = ("twisted.internet.base",)

    def fanout(self, n: int, hits: Hits) -> Rig:
        handlers = counting(n, hits)
        return Rig(lambda: Wired(_one_type(handlers, ["during"] * n)), expected=n, note="'during' triggers")

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        handlers = counting(len(keys), hits)

        def build() -> Wired:
            reactor = _reactor()
            add_trigger = reactor.addSystemEventTrigger
            for key, handler in zip(keys, handlers, strict=True):
                add_trigger("during", key, handler, key)
            refire = _refiring(reactor)

            def add(pair: tuple[str, Any]) -> object:
                return add_trigger("during", pair[0], pair[1], pair[0])

            return Wired(lambda: refire(target), refire, add, reactor.removeSystemEventTrigger)

        return Rig(build, expected=1, spares=spare_pairs(spare_keys, hits), note="an event type per key")

    def deferred_fanout(self, n: int, hits: Hits) -> Rig:
        handlers = answering(n, hits)
        return Rig(
            lambda: Wired(_one_type(handlers, ["before"] * n)),
            expected=n,
            note="'before' triggers (the phase that waits)",
        )

    def phased(self, hits: Hits) -> Rig:
        handlers = counting(3, hits)
        return Rig(lambda: Wired(_one_type(handlers, PHASES)), expected=3)


CONTENDER = TwistedTriggers()
