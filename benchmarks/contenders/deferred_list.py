"""
The plain Twisted way: ``DeferredList([maybeDeferred(h, event) for h in handlers])``.

A dict from key to handler list does the filtering; phases are three
DeferredLists chained one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._kit import Contender, Event, Hits, KeyedLists, Rig, Wired, answering, counting, deferring, spare_pairs

Handlers = Sequence[Callable[[Any], object]]


def _gather(handlers: Handlers, event: object) -> Any:
    from twisted.internet.defer import DeferredList, maybeDeferred

    return DeferredList([maybeDeferred(handler, event) for handler in handlers])


def _fanout(handlers: Handlers) -> Callable[[], object]:
    handlers = list(handlers)  # the registry: a list of its own
    event = Event()
    return lambda: _gather(handlers, event)


def _chained(phases: Sequence[Handlers], event: object) -> Any:
    deferred = _gather(phases[0], event)
    for handlers in phases[1:]:
        deferred.addCallback(lambda _, handlers=handlers: _gather(handlers, event))
    return deferred


class DeferredListGather(Contender):
    name = "deferred_list"
    title = "maybeDeferred + DeferredList"
    dists = ("twisted",)
    about = "DeferredList([maybeDeferred(h, event) for h in handlers]); dict key -> handler list"
    imports = ("twisted.internet.defer",)

    def fanout(self, n: int, hits: Hits) -> Rig:
        handlers = counting(n, hits)
        return Rig(lambda: Wired(_fanout(handlers)), expected=n)

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        handlers = counting(len(keys), hits)

        def build() -> Wired:
            lists = KeyedLists(zip(keys, handlers, strict=True))
            get = lists.table.get

            def probe(key: object) -> object:
                return _gather(get(key, ()), Event(key))

            return Wired(lambda: probe(target), probe, lists.add, lists.remove)

        return Rig(build, expected=1, spares=spare_pairs(spare_keys, hits), note="dict: key -> list")

    def deferred_fanout(self, n: int, hits: Hits) -> Rig:
        handlers = answering(n, hits)
        return Rig(lambda: Wired(_fanout(handlers)), expected=n)

    def phased(self, hits: Hits) -> Rig:
        phases = [counting(1, hits) for _ in range(3)]
        event = Event()
        return Rig(
            lambda: Wired(lambda: _chained(phases, event)), expected=3, note="three chained DeferredLists"
        )

    def reactor_fanout(self, n: int, hits: Hits, reactor: Any) -> Rig:
        handlers = deferring(n, hits, reactor)
        return Rig(lambda: Wired(_fanout(handlers)), expected=n)


CONTENDER = DeferredListGather()
