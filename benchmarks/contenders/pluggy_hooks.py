"""
pluggy: one plugin object per handler; a hook call runs every hook implementation.

pluggy cannot filter, so keyed workloads are emulated: every implementation
runs and checks the key itself.  ``PluginManager.register`` compares the new
plugin with every registered one, so registering n plugins costs O(n^2): the
large sizes are capped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from types import SimpleNamespace
from typing import Any

from ._kit import EMULATED, Contender, Event, Hits, Rig, Wired, counting, filtering, in_turn, spare_filters

PROJECT = "bench"
PHASES = ("before", "during", "after")


def _manager() -> Any:
    import pluggy

    spec = pluggy.HookspecMarker(PROJECT)

    class Spec:
        @spec
        def on_event(self, event: object) -> None: ...

        @spec
        def before(self, event: object) -> None: ...

        @spec
        def during(self, event: object) -> None: ...

        @spec
        def after(self, event: object) -> None: ...

    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(Spec)
    return manager


def _plugins(handlers: Sequence[Callable[[Any], object]], hook: str = "on_event") -> list[SimpleNamespace]:
    import pluggy

    implementation = pluggy.HookimplMarker(PROJECT)
    return [SimpleNamespace(**{hook: implementation(handler)}) for handler in handlers]


def _registered(plugins: Sequence[object]) -> Any:
    manager = _manager()
    for plugin in plugins:
        manager.register(plugin)
    return manager


class Pluggy(Contender):
    name = "pluggy"
    title = "pluggy"
    dists = ("pluggy",)
    about = "pluggy.PluginManager: one plugin per handler, pm.hook.on_event(event=...)"
    imports = ("pluggy",)
    max_n = 2_000
    max_n_reason = "register() compares each new plugin with every registered one: 100k take ~10 min"

    def fanout(self, n: int, hits: Hits) -> Rig:
        plugins = _plugins(counting(n, hits))

        def build() -> Wired:
            return Wired(partial(_registered(plugins).hook.on_event, event=Event()))

        return Rig(build, expected=n)

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        plugins = _plugins(filtering(keys, hits))
        spares = [(key, _plugins([handler])[0]) for key, handler in spare_filters(spare_keys, hits)]

        def build() -> Wired:
            manager = _registered(plugins)
            hook = manager.hook.on_event

            def probe(key: object) -> object:
                return hook(event=Event(key))

            def add(pair: tuple[str, object]) -> object:
                manager.register(pair[1])
                return pair[1]

            return Wired(partial(probe, target), probe, add, manager.unregister)

        return Rig(build, expected=1, mode=EMULATED, spares=spares, note="every hookimpl checks the key")

    def phased(self, hits: Hits) -> Rig:
        handlers = counting(3, hits)
        plugins = [_plugins([h], phase)[0] for h, phase in zip(handlers, PHASES, strict=True)]

        def build() -> Wired:
            hook = _registered(plugins).hook
            event = Event()
            return Wired(in_turn(partial(getattr(hook, phase), event=event) for phase in PHASES))

        return Rig(build, expected=3, mode=EMULATED, note="three hooks called in turn")


CONTENDER = Pluggy()
