"""
This project: ``twisted_event_dispatcher.EventDispatcher``, through its public API.

Handlers are added with ``add_event_handler`` (the original Deferred API) and
removed with ``remove_event_handler``; the synchronous twins ``register`` and
``unregister`` are timed on the side.  Handlers are held weakly (the default).
Fan-out handlers have no match-spec and the event is fired with one detail,
as a real fire would carry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from ._kit import Contender, Event, Hits, Rig, Wired, answering, counting, deferring, spare_pairs

FANOUT_USER = "user-fanout"
PHASES = ("before", "during", "after")


def _dispatcher(keywords: Sequence[str]) -> Any:
    from twisted_event_dispatcher import EventDispatcher

    return EventDispatcher(allowed_match_spec_keywords=keywords, phases=PHASES)


def _started(
    keywords: Sequence[str], entries: Sequence[tuple[Callable[[Any], object], str, Mapping[str, object]]]
) -> Any:
    """
    A started dispatcher with ``(handler, phase, match_spec)`` entries added.
    """
    dispatcher = _dispatcher(keywords)
    add = dispatcher.add_event_handler
    for handler, phase, spec in entries:
        add(handler, phase, **spec)
    dispatcher.start()
    return dispatcher


def _fanout_rig(handlers: Sequence[Callable[[Any], object]], expected: int, note: str = "") -> Rig:
    def build() -> Wired:
        dispatcher = _started(("user",), [(handler, "during", {}) for handler in handlers])
        return Wired(partial(dispatcher.fire_event, Event(), user=FANOUT_USER), keep=handlers)

    return Rig(build, expected=expected, note=note)


def _deferred_api(dispatcher: Any) -> tuple[Callable[[Any], object], Callable[[Any], object]]:
    add_event_handler = dispatcher.add_event_handler
    remove_event_handler = dispatcher.remove_event_handler

    def add(pair: tuple[str, Callable[[Any], object]]) -> object:
        ids: list[object] = []
        add_event_handler(pair[1], "during", user=pair[0]).addCallback(ids.append)
        return ids[0]

    return add, remove_event_handler


def _sync_api(dispatcher: Any) -> tuple[Callable[[Any], object], Callable[[Any], object]]:
    register = dispatcher.register

    def add(pair: tuple[str, Callable[[Any], object]]) -> object:
        return register(pair[1], "during", match={"user": pair[0]})

    return add, dispatcher.unregister


class ThisProject(Contender):
    name = "this_project"
    title = "**this project**"
    dists = ("twisted_event_dispatcher", "twisted")
    about = "EventDispatcher: add_event_handler(h, phase, user=key) / fire_event(event, user=key)"
    imports = ("twisted_event_dispatcher",)

    def fanout(self, n: int, hits: Hits) -> Rig:
        return _fanout_rig(counting(n, hits), n, note="no match-spec; fired with user=...")

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        handlers = counting(len(keys), hits)

        def build() -> Wired:
            entries = [(h, "during", {"user": key}) for key, h in zip(keys, handlers, strict=True)]
            dispatcher = _started(("user",), entries)

            def probe(key: object) -> object:
                return dispatcher.fire_event(Event(key), user=key)

            add, remove = _deferred_api(dispatcher)
            twins = {"register()/unregister()": _sync_api(dispatcher)}
            return Wired(partial(probe, target), probe, add, remove, twins, keep=handlers)

        return Rig(build, expected=1, spares=spare_pairs(spare_keys, hits), note="match-spec user=<key>")

    def keyed_two(self, keys: Sequence[str], target: str, hits: Hits) -> Rig:
        handlers = counting(len(keys), hits)

        def build() -> Wired:
            entries = [(h, "during", {"user": key}) for key, h in zip(keys, handlers, strict=True)]
            dispatcher = _started(("kind", "user"), entries)
            return Wired(
                partial(dispatcher.fire_event, Event(target), kind="login", user=target), keep=handlers
            )

        return Rig(build, expected=1, note="spec user=<key>; fired kind='login', user=<key>")

    def deferred_fanout(self, n: int, hits: Hits) -> Rig:
        return _fanout_rig(answering(n, hits), n)

    def phased(self, hits: Hits) -> Rig:
        handlers = counting(3, hits)

        def build() -> Wired:
            dispatcher = _started(
                ("user",), [(h, phase, {}) for h, phase in zip(handlers, PHASES, strict=True)]
            )
            return Wired(partial(dispatcher.fire_event, Event(), user=FANOUT_USER), keep=handlers)

        return Rig(build, expected=3)

    def reactor_fanout(self, n: int, hits: Hits, reactor: Any) -> Rig:
        return _fanout_rig(deferring(n, hits, reactor), n)


CONTENDER = ThisProject()
