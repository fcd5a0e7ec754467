# -*- test-case-name: tests.service.test_plugins,tests.service.test_plugin_lifecycle -*-
"""
A plugin host's lifecycle, as an automat machine: :class:`HostCore` is its
core, :class:`HostLifecycle` its inputs, and :data:`HOST_TRANSITIONS` every
transition it can make.

Starting initializes every plugin in the order they were added, starts the
dispatcher, then starts every plugin; each pass is a *walk* over the
plugins, which includes plugins added meanwhile.  Stopping interrupts a
start in progress, stops the plugins in reverse order, stops the dispatcher
(draining the events in flight), then closes the plugins in reverse order.

The machine decides; :meth:`HostCore.advance` does what it decided to the
plugins, outside any transition, so that a plugin's lifecycle method may call
the host (to stop it, or to add a plugin) and be heard at once.  Whoever
feeds the machine an input calls :meth:`HostCore.advance` afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Literal, Protocol, cast

import attrs
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ._dispatcher import EventDispatcher
from ._plugin_lifecycle import PluginId, PluginLifecycle, PluginRecord, Transition, build_machine, release

__all__ = ["HOST_TRANSITIONS", "HostCore", "HostLifecycle", "HostState"]

#: Where a host is in its lifecycle.
HostState = Literal["stopped", "starting", "running", "stopping"]

_log = Logger()


class HostLifecycle(Protocol):
    """
    The inputs of a host's lifecycle.
    """

    def start(self) -> None:
        """
        Bring the plugins and the dispatcher up.
        """

    def stop(self, done: Deferred[None]) -> None:
        """
        Bring them down; ``done`` fires once they are.
        """

    def when_started(self, waiter: Deferred[None]) -> None:
        """
        Fire ``waiter`` once the host is running, or once a start in
        progress was interrupted.
        """

    def plugin_added(self, record: PluginRecord) -> None:
        """
        A plugin was added.
        """

    def _walked(self) -> None:
        """
        The walk in progress has reached every plugin.
        """

    def _stopped(self) -> None:
        """
        Everything is stopped and closed.
        """


@attrs.define(eq=False)
class _Walk:
    """
    One pass of a lifecycle step over the plugins, in the order they were
    added, including those added meanwhile.
    """

    records: Mapping[PluginId, PluginRecord]
    step: Callable[[PluginLifecycle], Callable[[Deferred[None]], None]]
    current: PluginRecord | None = None
    _visited: set[PluginId] = attrs.Factory(set)

    def next(self) -> PluginRecord | None:
        """
        The next plugin to visit, now current; None when all are visited.
        """
        for plugin_id, record in self.records.items():
            if plugin_id not in self._visited:
                self._visited.add(plugin_id)
                self.current = record
                return record
        return None


@attrs.define(eq=False)
class HostCore:
    """
    What a host's lifecycle works on: the dispatcher, the plugins, and who
    waits for what.

    :ivar state: the host's state as it reports it; only the machine writes it.
    :ivar walk: the walk the machine asked for, if any.
    :ivar arrivals: plugins added while running, to be brought up.
    :ivar outstanding: plugins being brought up (by the walk or as
        arrivals), with the Deferred that fires when each is at rest.
    """

    dispatcher: EventDispatcher
    drain_timeout: float | None
    records: Mapping[PluginId, PluginRecord]
    state: HostState = "stopped"
    lifecycle: HostLifecycle = attrs.field(init=False)
    walk: _Walk | None = None
    arrivals: list[PluginRecord] = attrs.Factory(list)
    outstanding: dict[PluginRecord, Deferred[None]] = attrs.Factory(dict)
    started_waiters: list[Deferred[None]] = attrs.Factory(list)
    stop_waiters: list[Deferred[None]] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        self.lifecycle = _HOST_MACHINE(self)

    def advance(self) -> None:
        """
        Bring up the arrivals, and take the walk on until a plugin must be
        waited for.
        """
        while True:
            if self.arrivals:
                arrival = self.arrivals.pop(0)
                self._send(arrival, arrival.lifecycle.bring_up)
                continue
            walk = self.walk
            if walk is None or walk.current is not None:
                return
            record = walk.next()
            if record is None:
                self.walk = None
                self.lifecycle._walked()
                continue
            settled = self._send(record, walk.step(record.lifecycle))
            if not settled.called:
                settled.addCallback(self._walk_on, walk)
                return
            walk.current = None

    def _send(self, record: PluginRecord, step: Callable[[Deferred[None]], None]) -> Deferred[None]:
        settled: Deferred[None] = Deferred()
        self.outstanding[record] = settled
        settled.addCallback(self._settled, record)
        step(settled)
        return settled

    def _settled(self, result: None, record: PluginRecord) -> None:
        del self.outstanding[record]

    def _walk_on(self, result: None, walk: _Walk) -> None:
        walk.current = None
        self.advance()

    async def stop_everything(self) -> None:
        """
        Interrupt what is coming up, stop the plugins, drain and stop the
        dispatcher, close the plugins; then tell the machine.
        """
        coming_up = list(self.outstanding.items())
        for record, _ in coming_up:
            record.lifecycle.interrupt()
        for _, settled in coming_up:
            await settled
        release(self.started_waiters)
        await self._backwards(lambda plugin: plugin.stop)
        try:
            await self.dispatcher.stop(timeout=self.drain_timeout)
        except Exception:
            _log.failure("the dispatcher's stop failed; closing the plugins all the same")
        await self._backwards(lambda plugin: plugin.close)
        self.lifecycle._stopped()
        self.advance()

    async def _backwards(self, step: Callable[[PluginLifecycle], Callable[[Deferred[None]], None]]) -> None:
        """
        Take every plugin through ``step``, the last added first, one at a
        time (a plugin removed meanwhile winds itself down).
        """
        for record in reversed(list(self.records.values())):
            if self.records.get(record.plugin_id) is record:
                settled: Deferred[None] = Deferred()
                step(record.lifecycle)(settled)
                await settled


# The outputs of a host's transitions.


def _walk_initialize(lifecycle: HostLifecycle, core: HostCore) -> None:
    core.walk = _Walk(core.records, lambda plugin: plugin.initialize)


def _start_dispatcher_then_walk_bring_up(lifecycle: HostLifecycle, core: HostCore) -> None:
    core.dispatcher.start()
    core.walk = _Walk(core.records, lambda plugin: plugin.bring_up)


def _started(lifecycle: HostLifecycle, core: HostCore) -> None:
    release(core.started_waiters)


def _stop_everything(lifecycle: HostLifecycle, core: HostCore, done: Deferred[None]) -> None:
    core.walk = None
    core.arrivals.clear()
    core.stop_waiters.append(done)
    Deferred.fromCoroutine(core.stop_everything())


def _wait_for_stop(lifecycle: HostLifecycle, core: HostCore, done: Deferred[None]) -> None:
    core.stop_waiters.append(done)


def _stopped(lifecycle: HostLifecycle, core: HostCore) -> None:
    release(core.stop_waiters)
    release(core.started_waiters)


def _stopped_then_walk_initialize(lifecycle: HostLifecycle, core: HostCore) -> None:
    release(core.stop_waiters)
    _walk_initialize(lifecycle, core)


def _wait_for_start(lifecycle: HostLifecycle, core: HostCore, waiter: Deferred[None]) -> None:
    core.started_waiters.append(waiter)


def _fire(lifecycle: HostLifecycle, core: HostCore, waiter: Deferred[None]) -> None:
    release([waiter])


def _bring_up(lifecycle: HostLifecycle, core: HostCore, record: PluginRecord) -> None:
    core.arrivals.append(record)


def _nothing(lifecycle: HostLifecycle, core: HostCore, *ignored: object) -> None:
    pass


#: Each state, and the state the host reports for it.
HOST_STATES: Final[Mapping[str, HostState]] = {
    "stopped": "stopped",
    "initializing": "starting",
    "bringing up": "starting",
    "running": "running",
    "stopping": "stopping",
    "stopping, then start": "stopping",
}

_H = HostLifecycle

#: Every transition of a host's lifecycle.
HOST_TRANSITIONS: Final[tuple[Transition, ...]] = (
    ("stopped", _H.start, "initializing", _walk_initialize),
    ("initializing", _H._walked, "bringing up", _start_dispatcher_then_walk_bring_up),
    ("bringing up", _H._walked, "running", _started),
    ("running", _H.plugin_added, "running", _bring_up),
    ("running", _H.when_started, "running", _fire),
    ("stopping", _H._stopped, "stopped", _stopped),
    ("stopping", _H.start, "stopping, then start", _nothing),
    ("stopping", _H.stop, "stopping", _wait_for_stop),
    ("stopping, then start", _H._stopped, "initializing", _stopped_then_walk_initialize),
    ("stopping, then start", _H.stop, "stopping", _wait_for_stop),
    *(
        transition
        for state in ("stopped", "initializing", "bringing up", "stopping", "stopping, then start")
        for transition in (
            (state, _H.when_started, state, _wait_for_start),
            (state, _H.plugin_added, state, _nothing),
        )
    ),
    *(
        (state, _H.stop, "stopping", _stop_everything)
        for state in ("stopped", "initializing", "bringing up", "running")
    ),
)


def _show(core: HostCore, state: str) -> None:
    core.state = cast(HostState, state)


_HOST_MACHINE: Final = build_machine(HostLifecycle, HostCore, HOST_STATES, HOST_TRANSITIONS, _show)
