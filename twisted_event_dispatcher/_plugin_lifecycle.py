# -*- test-case-name: tests.service.test_plugins,tests.service.test_plugin_lifecycle -*-
"""
One plugin's lifecycle, as an automat machine: :class:`PluginRecord` is its
core, :class:`PluginLifecycle` its inputs, and :data:`PLUGIN_TRANSITIONS`
every transition it can make (Twisted's ``ClientService`` is the model).

A plugin is initialized, then started; stopped, then closed; and removed from
its host at any point, after which it is wound down as far as it got.  An
input the table does not list for the current state raises automat's
``NoTransition``: no transition outside the table can happen.

Inputs return None, so that a plugin's lifecycle method may call its host
(which feeds this machine) while the machine is busy: automat runs such an
input when the transition in progress is over.  Whoever waits for a step
passes in a Deferred, fired once the plugin is at rest again.

A lifecycle method that is a coroutine runs as handlers' coroutines do
(:func:`~twisted_event_dispatcher._answers.choose_driver`): under Twisted's
asyncio reactor as an asyncio task, so that it may await asyncio libraries
(and cancelling it cancels the task), else through ``Deferred.fromCoroutine``.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import FunctionType
from typing import Final, Literal, Protocol, TypeVar, cast, final

import attrs
from automat import TypeMachine, TypeMachineBuilder
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from ._answers import COROUTINE, FAILED, KINDS, WAIT, CoroutineDriver, choose_driver, kind_of
from ._handle import HandlerId

__all__ = [
    "LIFECYCLE",
    "PLUGIN_TRANSITIONS",
    "LazyDriver",
    "PluginId",
    "PluginLifecycle",
    "PluginRecord",
    "PluginState",
    "build_machine",
    "release",
]

#: The lifecycle methods a plugin may define, in the order they run.
LIFECYCLE: Final = ("initialize", "start", "stop", "close")

#: Where a plugin is in its lifecycle, as its host reports it.
PluginState = Literal["added", "initializing", "initialized", "starting", "started", "failed", "closed"]

#: What a failed initialize() or start() leads to, for the log.
_DROPPED: Final = ": its handlers were removed and the other plugins go on without it"

_plugin_numbers: Final = itertools.count(1)
_log = Logger()


@final
class PluginId:
    """
    The id of one added plugin: opaque, hashable, unique in the process, and
    readable in logs as ``<PluginId #2 audit>``.
    """

    __slots__ = ("_name", "_number")

    def __init__(self, name: str) -> None:
        self._number = next(_plugin_numbers)
        self._name = name

    @property
    def name(self) -> str:
        """
        The plugin's name.
        """
        return self._name

    @property
    def number(self) -> int:
        """
        The plugin's number, unique in the process.
        """
        return self._number

    def __repr__(self) -> str:
        return f"<PluginId #{self._number} {self._name}>"


class PluginLifecycle(Protocol):
    """
    The inputs of one plugin's lifecycle.  Each Deferred given fires with
    None once the plugin is at rest again (or, for :meth:`remove`, wound
    down as far as removal requires).
    """

    def initialize(self, settled: Deferred[None]) -> None:
        """
        Initialize the plugin, if it is new or closed.
        """

    def bring_up(self, settled: Deferred[None]) -> None:
        """
        Initialize the plugin if it needs it, then start it.
        """

    def stop(self, settled: Deferred[None]) -> None:
        """
        Stop the plugin, if it is started.
        """

    def close(self, settled: Deferred[None]) -> None:
        """
        Close the plugin, if it is initialized.
        """

    def remove(self, done: Deferred[None]) -> None:
        """
        The plugin was removed from its host: wind it down, and never bring
        it up again.
        """

    def interrupt(self) -> None:
        """
        Its host is stopping: cancel an initialize() or start() in progress,
        and do not start the plugin after an initialize() in progress.
        """

    def _call_succeeded(self) -> None:
        """
        The lifecycle method in progress succeeded.
        """

    def _call_failed(self, failure: Failure) -> None:
        """
        The lifecycle method in progress failed with ``failure``.
        """


def release(waiters: list[Deferred[None]]) -> None:
    """
    Fire and forget every waiter not fired yet (one its owner cancelled is).
    """
    fired, waiters[:] = list(waiters), []
    for waiter in fired:
        if not waiter.called:
            waiter.callback(None)


def lifecycle_method(plugin: object, step: str) -> Callable[[], object] | None:
    """
    The plugin's method for a lifecycle step, or None: a plugin that is a
    single function has none.
    """
    if isinstance(plugin, FunctionType):
        return None
    method = getattr(plugin, step, None)
    return method if callable(method) else None


@final
class LazyDriver:
    """
    Runs the coroutines lifecycle methods return, choosing how at the first
    one (by then the reactor is installed): see
    :func:`~twisted_event_dispatcher._answers.choose_driver`.
    """

    __slots__ = ("_chosen",)

    def __init__(self) -> None:
        self._chosen: CoroutineDriver | None = None

    def __call__(self, awaitable: Awaitable[object]) -> Deferred[object]:
        if self._chosen is None:
            self._chosen = choose_driver(None)
        return self._chosen(awaitable)


def call_lifecycle_method(method: Callable[[], object], drive: CoroutineDriver) -> Deferred[object]:
    """
    Call a lifecycle method, and what it answers as a Deferred: a coroutine
    (or an asyncio future) run by ``drive``, a Deferred as it is, a value or
    an exception as a Deferred that has fired.
    """
    try:
        answer = method()
    except BaseException:
        return fail()
    kind = KINDS.get(type(answer))
    if kind is None:
        kind = kind_of(type(answer))
    if kind == COROUTINE:
        return drive(cast(Awaitable[object], answer))
    if kind == WAIT:
        return cast(Deferred[object], answer)
    if kind == FAILED:
        return fail(cast(Failure, answer))
    return succeed(answer)


@attrs.define(eq=False)
class PluginRecord:
    """
    One plugin added to a host: what the host knows of it, and the core of
    its lifecycle machine.

    :ivar state: its state as the host reports it; only the machine writes it.
    :ivar lifecycle: its machine.
    :ivar drive: runs the coroutines its lifecycle methods return.
    :ivar handler_name: the name a single marked function's handlers take
        (its entry point's, or its configuration entry's), or None.
    """

    plugin_id: PluginId
    plugin: object
    source: str | None
    drop_handlers: Callable[[PluginRecord], None]
    drive: CoroutineDriver = attrs.field(factory=LazyDriver)
    handler_ids: list[HandlerId] = attrs.Factory(list)
    state: PluginState = "added"
    handler_name: str | None = None
    lifecycle: PluginLifecycle = attrs.field(init=False)
    _waiting: list[Deferred[None]] = attrs.Factory(list)
    _call: Deferred[object] | None = None
    _interrupted: bool = False

    def __attrs_post_init__(self) -> None:
        self.lifecycle = _PLUGIN_MACHINE(self)

    def describe(self) -> str:
        """
        The plugin, for the log: its name, and where it came from.
        """
        where = f" from {self.source}" if self.source else ""
        return f"plugin {self.plugin_id.name!r}{where}"

    def wait(self, waiter: Deferred[None]) -> None:
        """
        Fire ``waiter`` when the plugin is next at rest.
        """
        self._waiting.append(waiter)

    def settle(self) -> None:
        """
        The plugin is at rest: fire what waits for that.
        """
        release(self._waiting)

    def call(self, step: str, lifecycle: PluginLifecycle) -> None:
        """
        Call the plugin's ``step`` method; how it ends is the next input.
        """
        self._interrupted = False
        method = lifecycle_method(self.plugin, step)
        if method is None:
            lifecycle._call_succeeded()
            return

        def succeeded(result: object) -> None:
            self._call = None
            lifecycle._call_succeeded()

        def failed(failure: Failure) -> None:
            self._call = None
            lifecycle._call_failed(failure)

        self._call = call = call_lifecycle_method(method, self.drive)
        call.addCallbacks(succeeded, failed)

    def cancel_call(self) -> None:
        """
        Cancel the lifecycle method in progress, if it returned a Deferred.
        """
        if self._call is not None:
            self._interrupted = True
            self._call.cancel()

    def log_failure(self, step: str, failure: Failure, consequence: str = "") -> None:
        """
        Log the failure of a lifecycle method, and what it leads to; or, if
        its host's stop cancelled it, that it was cancelled (no failure).
        """
        if self._interrupted and failure.check(CancelledError):
            _log.info(
                "{plugin}: {step}() was cancelled: its host is stopping", plugin=self.describe(), step=step
            )
            return
        _log.failure(
            "{plugin}: {step}() failed{consequence}",
            failure,
            LogLevel.error,
            plugin=self.describe(),
            step=step,
            consequence=consequence,
        )


Core = TypeVar("Core")
Inputs = TypeVar("Inputs")

#: One transition: from a state, upon an input, to a state, doing something.
Transition = tuple[str, Callable[..., None], str, Callable[..., None]]


def build_machine(
    inputs: Callable[[], Inputs],
    core: type[Core],
    states: Mapping[str, str | None],
    transitions: Iterable[Transition],
    show: Callable[[Core, str], None],
) -> TypeMachine[Inputs, Core]:
    """
    Build a machine from its states and transitions.

    :param inputs: the Protocol of its inputs.
    :param core: the class of its core.
    :param states: each state's name, in order (the first is the initial
        state), and the name its core reports for it (None: the name it had).
    :param transitions: ``(state, input, next state, output)``; the output is
        called with the machine, its core and the input's arguments.
    :param show: sets the name a core reports.
    """
    builder = TypeMachineBuilder(inputs, core)
    made = {name: builder.state(name) for name in states}
    for old, upon, new, output in transitions:
        shown = states[new]
        made[old].upon(upon).to(made[new])(_showing(output, shown, show))
    return builder.build()


def _showing(
    output: Callable[..., None], shown: str | None, show: Callable[[Core, str], None]
) -> Callable[..., None]:
    def entering(machine: object, core: Core, *args: object) -> None:
        if shown is not None:
            show(core, shown)
        output(machine, core, *args)

    entering.__name__ = output.__name__
    return entering


# The outputs of a plugin's transitions.


def _call(step: str) -> Callable[..., None]:
    def call(lifecycle: PluginLifecycle, record: PluginRecord, waiter: Deferred[None] | None = None) -> None:
        if waiter is not None:
            record.wait(waiter)
        record.call(step, lifecycle)

    call.__name__ = f"call_{step}"
    return call


def _failed(step: str, then: Callable[..., None], consequence: str = "") -> Callable[..., None]:
    def failed(lifecycle: PluginLifecycle, record: PluginRecord, failure: Failure) -> None:
        record.log_failure(step, failure, consequence)
        then(lifecycle, record)

    failed.__name__ = f"{step}_failed_then_{then.__name__}"
    return failed


def _settle(lifecycle: PluginLifecycle, record: PluginRecord) -> None:
    record.settle()


def _drop_and_settle(lifecycle: PluginLifecycle, record: PluginRecord) -> None:
    record.drop_handlers(record)
    record.settle()


def _drop_and_close(lifecycle: PluginLifecycle, record: PluginRecord) -> None:
    record.drop_handlers(record)
    record.call("close", lifecycle)


def _wait(lifecycle: PluginLifecycle, record: PluginRecord, waiter: Deferred[None]) -> None:
    record.wait(waiter)


def _fire(lifecycle: PluginLifecycle, record: PluginRecord, waiter: Deferred[None]) -> None:
    release([waiter])


def _cancel(lifecycle: PluginLifecycle, record: PluginRecord) -> None:
    record.cancel_call()


def _nothing(lifecycle: PluginLifecycle, record: PluginRecord) -> None:
    pass


#: Each state, and the state its host reports for it.  A state that ends in
#: ``removed`` belongs to a plugin no longer added, winding down.
PLUGIN_STATES: Final[Mapping[str, PluginState | None]] = {
    "added": "added",
    "initializing": "initializing",
    "initializing, then start": "initializing",
    "initializing, removed": "initializing",
    "initialized": "initialized",
    "starting": "starting",
    "starting, removed": "starting",
    "started": "started",
    "stopping": "started",
    "stopping, removed": "started",
    "closing": "initialized",
    "closing, removed": "initialized",
    "closing after failing": "failed",
    "failed": "failed",
    "closed": "closed",
    "removed": None,
}

_P = PluginLifecycle
_FAILED_START: Final = _DROPPED + "; closing it"
_initialize, _start, _stop, _close = (_call(step) for step in LIFECYCLE)
_initialize_failed = _failed("initialize", _drop_and_settle, _DROPPED)
_initialize_failed_removed = _failed("initialize", _settle, _DROPPED)
_start_failed = _failed("start", _drop_and_close, _FAILED_START)
_start_failed_removed = _failed("start", _close, _FAILED_START)
_stop_failed = _failed("stop", _settle)
_stop_failed_removed = _failed("stop", _close)
_close_failed = _failed("close", _settle)

#: Every transition of a plugin's lifecycle.
PLUGIN_TRANSITIONS: Final[tuple[Transition, ...]] = (
    ("added", _P.initialize, "initializing", _initialize),
    ("added", _P.bring_up, "initializing, then start", _initialize),
    ("added", _P.stop, "added", _fire),
    ("added", _P.close, "added", _fire),
    ("added", _P.remove, "removed", _fire),
    ("initializing", _P._call_succeeded, "initialized", _settle),
    ("initializing", _P._call_failed, "failed", _initialize_failed),
    ("initializing", _P.remove, "initializing, removed", _fire),
    ("initializing", _P.interrupt, "initializing", _cancel),
    ("initializing, then start", _P._call_succeeded, "starting", _start),
    ("initializing, then start", _P._call_failed, "failed", _initialize_failed),
    ("initializing, then start", _P.remove, "initializing, removed", _fire),
    ("initializing, then start", _P.interrupt, "initializing", _cancel),
    ("initializing, removed", _P._call_succeeded, "closing, removed", _close),
    ("initializing, removed", _P._call_failed, "removed", _initialize_failed_removed),
    ("initializing, removed", _P.interrupt, "initializing, removed", _cancel),
    ("initialized", _P.bring_up, "starting", _start),
    ("initialized", _P.stop, "initialized", _fire),
    ("initialized", _P.close, "closing", _close),
    ("initialized", _P.remove, "closing, removed", _close),
    ("starting", _P._call_succeeded, "started", _settle),
    ("starting", _P._call_failed, "closing after failing", _start_failed),
    ("starting", _P.remove, "starting, removed", _fire),
    ("starting", _P.interrupt, "starting", _cancel),
    ("starting, removed", _P._call_succeeded, "stopping, removed", _stop),
    ("starting, removed", _P._call_failed, "closing, removed", _start_failed_removed),
    ("starting, removed", _P.interrupt, "starting, removed", _cancel),
    ("started", _P.stop, "stopping", _stop),
    ("started", _P.remove, "stopping, removed", _stop),
    ("stopping", _P._call_succeeded, "initialized", _settle),
    ("stopping", _P._call_failed, "initialized", _stop_failed),
    ("stopping", _P.remove, "stopping, removed", _wait),
    ("stopping, removed", _P._call_succeeded, "closing, removed", _close),
    ("stopping, removed", _P._call_failed, "closing, removed", _stop_failed_removed),
    ("closing", _P._call_succeeded, "closed", _settle),
    ("closing", _P._call_failed, "closed", _close_failed),
    ("closing", _P.remove, "closing, removed", _wait),
    ("closing, removed", _P._call_succeeded, "removed", _settle),
    ("closing, removed", _P._call_failed, "removed", _close_failed),
    ("closing after failing", _P._call_succeeded, "failed", _settle),
    ("closing after failing", _P._call_failed, "failed", _close_failed),
    ("closing after failing", _P.remove, "closing, removed", _wait),
    ("failed", _P.initialize, "failed", _fire),
    ("failed", _P.bring_up, "failed", _fire),
    ("failed", _P.stop, "failed", _fire),
    ("failed", _P.close, "failed", _fire),
    ("failed", _P.remove, "removed", _fire),
    ("closed", _P.initialize, "initializing", _initialize),
    ("closed", _P.bring_up, "initializing, then start", _initialize),
    ("closed", _P.stop, "closed", _fire),
    ("closed", _P.close, "closed", _fire),
    ("closed", _P.remove, "removed", _fire),
    # Nothing is in progress in these states: interrupting changes nothing.
    *(
        (state, _P.interrupt, state, _nothing)
        for state in (
            "added",
            "initialized",
            "started",
            "stopping",
            "stopping, removed",
            "closing",
            "closing, removed",
            "closing after failing",
            "failed",
            "closed",
            "removed",
        )
    ),
)


def _show(record: PluginRecord, state: str) -> None:
    record.state = cast(PluginState, state)


_PLUGIN_MACHINE: Final = build_machine(
    PluginLifecycle, PluginRecord, PLUGIN_STATES, PLUGIN_TRANSITIONS, _show
)
