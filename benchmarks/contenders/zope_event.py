"""
zope.event: the global ``zope.event.subscribers`` list and ``notify(event)``.

One list for the whole process and no channels: keyed workloads are
emulated (every subscriber checks the key), and there are no phases.  Every
workload restores the list in its teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._kit import EMULATED, Contender, Event, Hits, Rig, Wired, counting, filtering, spare_filters


def _subscribed(handlers: Sequence[Callable[[Any], object]]) -> tuple[list[Any], Callable[[object], None]]:
    import zope.event  # type: ignore[import-untyped]

    zope.event.subscribers[:] = handlers
    return zope.event.subscribers, zope.event.notify


def _unsubscribe_all() -> None:
    import zope.event

    zope.event.subscribers[:] = []


class ZopeEvent(Contender):
    name = "zope_event"
    title = "zope.event"
    dists = ("zope.event",)
    about = "zope.event.subscribers.append(h) / zope.event.notify(event)"
    imports = ("zope.event",)

    def fanout(self, n: int, hits: Hits) -> Rig:
        handlers = counting(n, hits)
        event = Event()

        def build() -> Wired:
            notify = _subscribed(handlers)[1]
            return Wired(lambda: notify(event))

        return Rig(build, expected=n, teardown=_unsubscribe_all)

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        handlers = filtering(keys, hits)

        def build() -> Wired:
            subscribers, notify = _subscribed(handlers)

            def probe(key: object) -> None:
                notify(Event(key))

            def add(pair: tuple[str, Any]) -> object:
                subscribers.append(pair[1])
                return pair[1]

            return Wired(lambda: probe(target), probe, add, subscribers.remove)

        spares = spare_filters(spare_keys, hits)
        return Rig(
            build,
            expected=1,
            mode=EMULATED,
            spares=spares,
            teardown=_unsubscribe_all,
            note="every subscriber checks the key",
        )


CONTENDER = ZopeEvent()
