"""
PyDispatcher: ``dispatcher.connect(h, signal, sender)`` / ``send(signal, sender, **named)``.

The sender is its filter, so a key is a sender (keyed by ``id()``: the same key
objects register and fire).  Its registry is global to the process, so every
workload empties it in its teardown.  Receivers are held weakly (the default)
and get only the named arguments they accept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

from ._kit import EMULATED, Contender, Event, Hits, Rig, Wired, counting, in_turn, spare_pairs

SIGNAL = "bench"
PHASES = ("before", "during", "after")


def _reset() -> None:
    from pydispatch import dispatcher  # type: ignore[import-untyped]

    dispatcher.connections.clear()
    dispatcher.senders.clear()
    dispatcher.sendersBack.clear()


def _connect_all(handlers: Sequence[Callable[[Any], object]], signals: Sequence[str]) -> None:
    from pydispatch import dispatcher

    _reset()
    for handler, signal in zip(handlers, signals, strict=True):
        dispatcher.connect(handler, signal=signal)


class PyDispatcher(Contender):
    name = "pydispatcher"
    title = "PyDispatcher"
    dists = ("PyDispatcher",)
    about = "pydispatch.dispatcher: connect(h, signal, sender=key) / send(signal, key, event=...)"
    imports = ("pydispatch.dispatcher",)
    caps: ClassVar[dict[str, tuple[int, str]]] = {
        "fanout": (10_000, "connect() scans the signal's receiver list: 100k on one signal take ~6 min")
    }

    def fanout(self, n: int, hits: Hits) -> Rig:
        from pydispatch import dispatcher

        handlers = counting(n, hits)
        event = Event()

        def build() -> Wired:
            _connect_all(handlers, [SIGNAL] * n)
            send = dispatcher.send
            return Wired(lambda: send(SIGNAL, event=event), keep=handlers)

        return Rig(build, expected=n, teardown=_reset)

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        from pydispatch import dispatcher

        handlers = counting(len(keys), hits)

        def build() -> Wired:
            _reset()
            connect = dispatcher.connect
            for key, handler in zip(keys, handlers, strict=True):
                connect(handler, signal=SIGNAL, sender=key)
            send = dispatcher.send

            def probe(key: object) -> object:
                return send(SIGNAL, key, event=Event(key))

            def add(pair: tuple[str, Any]) -> tuple[str, Any]:
                connect(pair[1], signal=SIGNAL, sender=pair[0])
                return pair

            def remove(pair: tuple[str, Any]) -> None:
                dispatcher.disconnect(pair[1], signal=SIGNAL, sender=pair[0])

            return Wired(lambda: probe(target), probe, add, remove, keep=handlers)

        spares = spare_pairs(spare_keys, hits)
        return Rig(build, expected=1, spares=spares, teardown=_reset, note="sender=<key>")

    def phased(self, hits: Hits) -> Rig:
        from pydispatch import dispatcher

        handlers = counting(3, hits)
        event = Event()

        def build() -> Wired:
            _connect_all(handlers, PHASES)
            return Wired(
                in_turn(partial(dispatcher.send, phase, event=event) for phase in PHASES), keep=handlers
            )

        return Rig(build, expected=3, mode=EMULATED, teardown=_reset, note="three signals sent in turn")


CONTENDER = PyDispatcher()
