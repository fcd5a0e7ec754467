"""
blinker: ``Signal.connect(receiver, sender=...)`` / ``send(sender, **kwargs)``.

The sender is its filter, so a key is a sender.  Receivers are held weakly
(the default) and called as ``receiver(sender, event=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ._kit import EMULATED, Contender, Event, Hits, Rig, Wired, in_turn

Receiver = Callable[..., None]


def _receivers(n: int, hits: Hits) -> list[Receiver]:
    def make() -> Receiver:
        def received(sender: object, event: object) -> None:
            hits[0] += 1

        return received

    return [make() for _ in range(n)]


def _signal(receivers: Sequence[Receiver], senders: Sequence[object] | None = None) -> Any:
    from blinker import ANY, Signal

    signal = Signal()
    for receiver, sender in zip(receivers, senders or [ANY] * len(receivers), strict=True):
        signal.connect(receiver, sender=sender)
    return signal


class Blinker(Contender):
    name = "blinker"
    title = "blinker"
    dists = ("blinker",)
    about = "blinker.Signal: connect(receiver, sender=key) / send(key, event=...)"
    imports = ("blinker",)

    def fanout(self, n: int, hits: Hits) -> Rig:
        receivers = _receivers(n, hits)
        return Rig(
            lambda: Wired(partial(_signal(receivers).send, None, event=Event()), keep=receivers), expected=n
        )

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        receivers = _receivers(len(keys), hits)
        spares = list(zip(spare_keys, _receivers(len(spare_keys), hits), strict=True))

        def build() -> Wired:
            signal = _signal(receivers, keys)

            def probe(key: object) -> object:
                return signal.send(key, event=Event(key))

            def add(pair: tuple[str, Receiver]) -> tuple[str, Receiver]:
                signal.connect(pair[1], sender=pair[0])
                return pair

            def remove(pair: tuple[str, Receiver]) -> None:
                signal.disconnect(pair[1], sender=pair[0])

            return Wired(partial(probe, target), probe, add, remove, keep=receivers)

        return Rig(build, expected=1, spares=spares, note="sender=<key>")

    def phased(self, hits: Hits) -> Rig:
        receivers = _receivers(3, hits)

        def build() -> Wired:
            event = Event()
            sends = [partial(_signal([receiver]).send, None, event=event) for receiver in receivers]
            return Wired(in_turn(sends), keep=receivers)

        return Rig(build, expected=3, mode=EMULATED, note="three signals sent in turn")


CONTENDER = Blinker()
