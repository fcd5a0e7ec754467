"""
pyee's ``TwistedEventEmitter``: ``on(name, h)`` / ``emit(name, event)``.

Event names are its only filter, so a key is an event name.  It calls
handlers that return Deferreds and adds an errback to each, but ``emit`` does
not wait for them and returns no Deferred.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ._kit import (
    EMULATED,
    Contender,
    Event,
    Hits,
    Rig,
    Wired,
    answering,
    counting,
    deferring,
    in_turn,
    spare_pairs,
)

NAME = "bench"
PHASES = ("before", "during", "after")


def _emitter() -> Any:
    from pyee.twisted import TwistedEventEmitter

    return TwistedEventEmitter()


def _one_name(handlers: Sequence[Callable[[Any], object]]) -> Callable[[], object]:
    emitter = _emitter()
    for handler in handlers:
        emitter.on(NAME, handler)
    return partial(emitter.emit, NAME, Event())


class PyeeTwisted(Contender):
    name = "pyee"
    title = "pyee TwistedEventEmitter"
    dists = ("pyee",)
    about = "pyee.twisted.TwistedEventEmitter: on(name, h) / emit(name, event)"
    imports = ("pyee.twisted",)

    def fanout(self, n: int, hits: Hits) -> Rig:
        handlers = counting(n, hits)
        return Rig(lambda: Wired(_one_name(handlers)), expected=n)

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        handlers = counting(len(keys), hits)

        def build() -> Wired:
            emitter = _emitter()
            for key, handler in zip(keys, handlers, strict=True):
                emitter.on(key, handler)

            def probe(key: object) -> object:
                return emitter.emit(key, Event(key))

            def add(pair: tuple[str, Any]) -> tuple[str, Any]:
                emitter.on(*pair)
                return pair

            def remove(pair: tuple[str, Any]) -> None:
                emitter.remove_listener(*pair)

            return Wired(partial(probe, target), probe, add, remove)

        return Rig(build, expected=1, spares=spare_pairs(spare_keys, hits), note="an event name per key")

    def deferred_fanout(self, n: int, hits: Hits) -> Rig:
        handlers = answering(n, hits)
        return Rig(lambda: Wired(_one_name(handlers)), expected=n, waits=False)

    def phased(self, hits: Hits) -> Rig:
        handlers = counting(3, hits)

        def build() -> Wired:
            emitter = _emitter()
            for phase, handler in zip(PHASES, handlers, strict=True):
                emitter.on(phase, handler)
            event = Event()
            return Wired(in_turn(partial(emitter.emit, phase, event) for phase in PHASES))

        return Rig(build, expected=3, mode=EMULATED, note="three emits, one event name per phase")

    def reactor_fanout(self, n: int, hits: Hits, reactor: Any) -> Rig:
        handlers = deferring(n, hits, reactor)
        return Rig(lambda: Wired(_one_name(handlers)), expected=n, waits=False)


CONTENDER = PyeeTwisted()
