"""
zope.component-style handlers on a local ``zope.interface.registry.Components``:
``registerHandler(h, (IBenchEvent,))`` and ``handle(event)``.

Dispatch is by the interfaces an event provides, not by values, so keyed
workloads are emulated.  Each ``registerHandler`` copies the tuple of
subscribers (O(n) per registration), so the large sizes are capped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._kit import EMULATED, Contender, Event, Hits, Rig, Wired, counting, filtering, spare_filters


def _event_types() -> tuple[Any, type[Event]]:
    from zope.interface import Interface, implementer

    class IBenchEvent(Interface):
        """
        What the benchmark's events provide.
        """

    @implementer(IBenchEvent)
    class BenchEvent(Event):
        __slots__ = ()

    return IBenchEvent, BenchEvent


def _registry(handlers: Sequence[Callable[[Any], object]], provided: Any) -> Any:
    from zope.interface.registry import Components

    registry = Components()
    for handler in handlers:
        registry.registerHandler(handler, (provided,))
    return registry


class ZopeComponent(Contender):
    name = "zope_component"
    title = "zope.component"
    dists = ("zope.component", "zope.interface")
    about = "Components.registerHandler(h, (IEvent,)) / handle(event), as zope.component.handle does"
    imports = ("zope.component", "zope.interface.registry")
    max_n = 20_000
    max_n_reason = "registerHandler copies the subscriber tuple: 100k registrations take ~30 s"

    def fanout(self, n: int, hits: Hits) -> Rig:
        handlers = counting(n, hits)
        provided, event_type = _event_types()
        event = event_type()

        def build() -> Wired:
            handle = _registry(handlers, provided).handle
            return Wired(lambda: handle(event))

        return Rig(build, expected=n)

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        handlers = filtering(keys, hits)
        provided, event_type = _event_types()

        def build() -> Wired:
            registry = _registry(handlers, provided)
            handle = registry.handle

            def probe(key: object) -> None:
                handle(event_type(key))

            def add(pair: tuple[str, Any]) -> object:
                registry.registerHandler(pair[1], (provided,))
                return pair[1]

            def remove(handler: Any) -> None:
                registry.unregisterHandler(handler, (provided,))

            return Wired(lambda: probe(target), probe, add, remove)

        spares = spare_filters(spare_keys, hits)
        return Rig(build, expected=1, mode=EMULATED, spares=spares, note="every handler checks the key")


CONTENDER = ZopeComponent()
