"""
psygnal: ``SignalInstance((object,))``, ``connect(h)`` / ``emit(event)``.

A signal has no per-key channels, so keyed workloads are emulated: every
handler is called and checks the key itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ._kit import EMULATED, Contender, Event, Hits, Rig, Wired, counting, filtering, in_turn, spare_filters


def _signal(handlers: Sequence[Callable[[Any], object]]) -> Any:
    from psygnal import SignalInstance

    signal = SignalInstance((object,))
    for handler in handlers:
        signal.connect(handler)
    return signal


class Psygnal(Contender):
    name = "psygnal"
    title = "psygnal"
    dists = ("psygnal",)
    about = "psygnal.SignalInstance((object,)): connect(h) / emit(event)"
    imports = ("psygnal",)

    def versions(self) -> str:
        import psygnal

        compiled = getattr(psygnal, "_compiled", False)
        return super().versions() + (" (compiled)" if compiled else " (pure Python)")

    def fanout(self, n: int, hits: Hits) -> Rig:
        handlers = counting(n, hits)
        event = Event()

        def build() -> Wired:
            emit = _signal(handlers).emit
            return Wired(lambda: emit(event))

        return Rig(build, expected=n)

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        handlers = filtering(keys, hits)

        def build() -> Wired:
            signal = _signal(handlers)

            def probe(key: object) -> object:
                return signal.emit(Event(key))

            def add(pair: tuple[str, Any]) -> object:
                return signal.connect(pair[1])

            return Wired(lambda: probe(target), probe, add, signal.disconnect)

        spares = spare_filters(spare_keys, hits)
        return Rig(build, expected=1, mode=EMULATED, spares=spares, note="every handler checks the key")

    def phased(self, hits: Hits) -> Rig:
        handlers = counting(3, hits)
        event = Event()

        def build() -> Wired:
            return Wired(in_turn(partial(_signal([handler]).emit, event) for handler in handlers))

        return Rig(build, expected=3, mode=EMULATED, note="three signals emitted in turn")


CONTENDER = Psygnal()
