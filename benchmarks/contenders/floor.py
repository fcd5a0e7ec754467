"""
The floor: plain loops over lists and dicts, no library.

What any dispatcher has to do at the least: call each handler, find the
handlers of a key with one dict access, and count Deferreds as they fire.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._kit import Contender, Event, Hits, KeyedLists, Rig, Wired, answering, counting, deferring, spare_pairs


def _call_all(handlers: Sequence[Callable[[Any], object]], event: object) -> Callable[[], None]:
    handlers = list(handlers)  # the registry: a list of its own

    def fire() -> None:
        for handler in handlers:
            handler(event)

    return fire


class Floor(Contender):
    name = "floor"
    title = "raw loop (floor)"
    about = "for h in handlers: h(event); a dict from key to handler list"

    def fanout(self, n: int, hits: Hits) -> Rig:
        handlers = counting(n, hits)
        return Rig(lambda: Wired(_call_all(handlers, Event())), expected=n)

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        handlers = counting(len(keys), hits)

        def build() -> Wired:
            lists = KeyedLists(zip(keys, handlers, strict=True))
            get = lists.table.get

            def probe(key: object) -> None:
                event = Event(key)
                for handler in get(key, ()):
                    handler(event)

            return Wired(lambda: probe(target), probe, lists.add, lists.remove)

        return Rig(build, expected=1, spares=spare_pairs(spare_keys, hits), note="dict: key -> list")

    def keyed_two(self, keys: Sequence[str], target: str, hits: Hits) -> Rig:
        handlers = counting(len(keys), hits)
        event = Event(target)
        details = {"kind": "login", "user": target}

        def build() -> Wired:
            get = KeyedLists(zip(keys, handlers, strict=True)).table.get

            def fire() -> None:
                for handler in get(details["user"], ()):
                    handler(event)

            return Wired(fire)

        return Rig(build, expected=1, note="dict on the constrained keyword")

    def deferred_fanout(self, n: int, hits: Hits) -> Rig:
        handlers = answering(n, hits)
        event = Event()

        def fire() -> None:
            for handler in handlers:
                if not handler(event).called:  # type: ignore[attr-defined]
                    raise AssertionError("the floor expects already-fired Deferreds")

        return Rig(lambda: Wired(fire), expected=n, note="checks .called on each")

    def phased(self, hits: Hits) -> Rig:
        phases = [counting(1, hits) for _ in range(3)]
        event = Event()

        def fire() -> None:
            for handlers in phases:
                for handler in handlers:
                    handler(event)

        return Rig(lambda: Wired(fire), expected=3, note="three lists in turn")

    def reactor_fanout(self, n: int, hits: Hits, reactor: Any) -> Rig:
        from twisted.internet.defer import Deferred

        handlers = deferring(n, hits, reactor)
        event = Event()

        def fire() -> Deferred[None]:
            done: Deferred[None] = Deferred()
            left = [len(handlers)]

            def settled(_: object) -> None:
                left[0] -= 1
                if not left[0]:
                    done.callback(None)

            for handler in handlers:
                handler(event).addCallback(settled)  # type: ignore[attr-defined]
            return done

        return Rig(lambda: Wired(fire), expected=n, note="a countdown on addCallback")


CONTENDER = Floor()
