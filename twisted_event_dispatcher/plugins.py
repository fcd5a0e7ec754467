# -*- test-case-name: tests.service.test_plugins -*-
"""
Plugins: objects whose handler methods are marked with `handles`, added to
a dispatcher together and removed together, with a lifecycle.

A plugin is a class instance, a module, or a single marked function (as
EvProc's entry points name handler functions).  `PluginHost` registers every
marked handler of a plugin with its dispatcher, and, as a Twisted service,
runs the plugins' lifecycle around the dispatcher's own:

- on start, each plugin's ``initialize()``, in the order the plugins were
  added; then the dispatcher starts; then each plugin's ``start()`` (LUNA's
  background plugins);
- on stop, each plugin's ``stop()`` in reverse order; then the dispatcher
  stops, draining the events in flight; then each plugin's ``close()`` in
  reverse order.

Each of these methods is optional and may return a Deferred or be ``async``;
under Twisted's asyncio reactor an ``async`` one runs as an asyncio task, as
coroutine handlers do, so it may await asyncio libraries.  A single marked
function added under a name (its entry point's, or its configuration
entry's) gives its handlers that name, for other handlers' ``requires``.
A plugin whose ``initialize()`` or ``start()`` fails is logged, its handlers
are removed, and the other plugins go on.  Both lifecycles are automat state
machines, one per plugin and one for the host: see ``_plugin_lifecycle`` and
``_host_lifecycle``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping
from types import FunctionType, MappingProxyType, ModuleType
from typing import Final, TypeVar, cast, final

import attrs
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ._dispatcher import EventDispatcher
from ._errors import UnknownHandlerError, UnknownPluginError
from ._host_lifecycle import HostCore, HostState
from ._options import check_timeout
from ._plugin_lifecycle import (
    LIFECYCLE,
    LazyDriver,
    PluginId,
    PluginRecord,
    PluginState,
    lifecycle_method,
)
from ._registry import Handler, HandlerId, describe_callable
from .declarations import DeclaredDispatcher

__all__ = [
    "LIFECYCLE",
    "HandlerMark",
    "HostState",
    "PluginHost",
    "PluginId",
    "PluginInfo",
    "PluginState",
    "UnknownPluginError",
    "handles",
    "marked_handlers",
    "marks_of",
]

#: Where a handler keeps its marks.
_MARKS: Final = "_twisted_event_dispatcher_marks"

_log = Logger()

F = TypeVar("F")


@final
@attrs.frozen
class HandlerMark:
    """
    How a marked handler is to be registered: see `handles`.
    """

    phase: str
    event: str | None
    match: Mapping[str, object]
    options: Mapping[str, object]


def handles(
    phase: str,
    /,
    *,
    event: str | None = None,
    match: Mapping[str, object] | None = None,
    **options: object,
) -> Callable[[F], F]:
    """
    Mark a plugin's function or method as a handler.

    Marks stack: a handler marked twice is registered twice.

    :param phase: the phase to run in.
    :param event: the declared event to handle (its arguments are passed as
        keywords); None for a plain handler, called with the event object.
    :param match: the match-spec, keyword to value.
    :param options: further options of the handler model, passed on to the
        dispatcher's ``register``.
    :raises TypeError: for a phase that is not a string or a match that is
        not a mapping.
    """
    if not isinstance(phase, str):
        raise TypeError(f"phase must be a string, got {phase!r}")
    if match is not None and not isinstance(match, Mapping):
        raise TypeError(f"match must be a mapping of keyword to value, got {match!r}")
    mark = HandlerMark(phase, event, MappingProxyType(dict(match or {})), MappingProxyType(options))

    def marked(fn: F) -> F:
        target = fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn
        if not callable(target):
            raise TypeError(f"@handles marks functions and methods, not {fn!r}")
        existing = marks_of(target)
        try:
            # Decorators apply bottom up; keep the marks in reading order.
            setattr(target, _MARKS, (mark, *existing))
        except AttributeError:
            raise TypeError(f"cannot mark {fn!r}: mark a function that calls it instead") from None
        return fn

    return marked


def marks_of(obj: object) -> tuple[HandlerMark, ...]:
    """
    The `handles` marks of a function, method, staticmethod or classmethod.
    """
    target = obj.__func__ if isinstance(obj, (staticmethod, classmethod)) else obj
    marks = inspect.getattr_static(target, _MARKS, ())
    if isinstance(marks, tuple) and all(isinstance(mark, HandlerMark) for mark in marks):
        return marks
    return ()


def _attribute_names(plugin: object) -> list[str]:
    """
    A plugin's attribute names: class attributes, base classes first, then
    instance attributes, each in definition order.
    """
    if isinstance(plugin, ModuleType):
        return list(vars(plugin))
    names: dict[str, None] = {}
    for cls in reversed(type(plugin).__mro__):
        names.update(dict.fromkeys(vars(cls)))
    with contextlib.suppress(TypeError):  # no instance dictionary: __slots__
        names.update(dict.fromkeys(vars(plugin)))
    return list(names)


def marked_handlers(plugin: object) -> list[tuple[Handler, HandlerMark]]:
    """
    The marked handlers of ``plugin``, bound, with their marks, in definition
    order.  A marked function is its own single handler.
    """
    own = marks_of(plugin)
    if own and isinstance(plugin, FunctionType):
        return [(plugin, mark) for mark in own]
    found: list[tuple[Handler, HandlerMark]] = []
    for name in _attribute_names(plugin):
        try:
            static = inspect.getattr_static(plugin, name)
        except AttributeError:
            continue
        marks = marks_of(static)
        if marks:
            bound = getattr(plugin, name)
            found.extend((bound, mark) for mark in marks)
    return found


def _default_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    if isinstance(plugin, FunctionType):
        return describe_callable(plugin)
    return type(plugin).__qualname__


@final
@attrs.frozen
class PluginInfo:
    """
    What a host knows about one of its plugins, at one moment.

    :ivar plugin_id: its id.
    :ivar plugin: the plugin itself.
    :ivar source: where it came from (a configuration entry, an entry
        point), or None when added by code.
    :ivar state: where it is in its lifecycle: ``added``, ``initializing``,
        ``initialized``, ``starting``, ``started``, ``failed`` or ``closed``.
    :ivar handler_ids: the ids of its registered handlers.
    """

    plugin_id: PluginId
    plugin: object
    source: str | None
    state: PluginState
    handler_ids: tuple[HandlerId, ...]


class PluginHost(Service):
    """
    Plugins over one dispatcher, and their lifecycle as a Twisted service.

    The host starts and stops the dispatcher itself: attach the host, not the
    dispatcher, to a parent service.

    :param dispatcher: a plain `EventDispatcher`, or a `DeclaredDispatcher`
        when plugins handle declared events.
    :param drain_timeout: seconds the host's stop waits for the events in
        flight before it cancels them (``EventDispatcher.stop(timeout=)``);
        None to wait for them however long they take.
    """

    def __init__(
        self, dispatcher: EventDispatcher | DeclaredDispatcher, *, drain_timeout: float | None = None
    ) -> None:
        if isinstance(dispatcher, DeclaredDispatcher):
            self._declared: DeclaredDispatcher | None = dispatcher
            self._dispatcher = dispatcher.dispatcher
        else:
            self._declared = None
            self._dispatcher = dispatcher
        self._records: dict[PluginId, PluginRecord] = {}
        self._owners: dict[HandlerId, PluginId] = {}
        self._core = HostCore(self._dispatcher, drain_timeout, self._records)
        self._drive = LazyDriver()

    @property
    def dispatcher(self) -> EventDispatcher:
        """
        The plain dispatcher the plugins' handlers are registered with.
        """
        return self._dispatcher

    @property
    def declared(self) -> DeclaredDispatcher | None:
        """
        The declared-event dispatcher, if the host was given one.
        """
        return self._declared

    @property
    def drain_timeout(self) -> float | None:
        """
        Seconds the host's stop waits for the events in flight before it
        cancels them; None to wait however long they take.  Setting it
        changes what the next stop waits.
        """
        return self._core.drain_timeout

    @drain_timeout.setter
    def drain_timeout(self, seconds: float | None) -> None:
        check_timeout(seconds)
        self._core.drain_timeout = seconds

    @property
    def state(self) -> HostState:
        """
        ``starting`` while plugins initialize and start, ``running`` after,
        ``stopping`` while they stop and the dispatcher drains, else ``stopped``.
        """
        return self._core.state

    # Adding and removing

    def add_plugin(self, plugin: object, name: str | None = None, *, source: str | None = None) -> PluginId:
        """
        Register every marked handler of ``plugin``; if the host is running,
        initialize and start it too (its handlers take effect at once).

        :param plugin: an instance, a module or a marked function.
        :param name: its name in logs and listings; by default its class's,
            module's or function's name.  A single marked function given a
            name (by its entry point, or by a configuration entry) also
            gives it to its handlers, as the name other handlers'
            ``requires``/``required_by`` refer to, unless a mark names the
            handler itself (``@handles(..., name=...)``).
        :param source: where it came from, for logs and listings.
        :returns: the plugin's id, for `remove_plugin`.
        :raises TypeError: for a class (add an instance) or a handler whose
            registration is refused.
        :raises ValueError: for a plugin with no marked handler and no
            lifecycle method.
        :raises: whatever the dispatcher raises for a marked handler's
            registration; no handler of the plugin is then registered.
        """
        if isinstance(plugin, type):
            raise TypeError(f"{plugin!r} is a class: add an instance of it as a plugin")
        handlers = marked_handlers(plugin)
        if not handlers and not any(lifecycle_method(plugin, step) for step in LIFECYCLE):
            raise ValueError(
                f"{plugin!r} has no handler marked with @handles and no {'/'.join(LIFECYCLE)} method: "
                "it is not a plugin"
            )
        record = PluginRecord(
            PluginId(name or _default_name(plugin)), plugin, source, self._unregister_all, self._drive
        )
        if name is not None and isinstance(plugin, FunctionType):
            record.handler_name = name
        try:
            for fn, mark in handlers:
                self._register(record, fn, mark)
        except Exception as error:
            error.add_note(f"while adding {record.describe()}")
            self._unregister_all(record)
            raise
        self._records[record.plugin_id] = record
        self._core.lifecycle.plugin_added(record)
        self._core.advance()
        return record.plugin_id

    def add_handler(
        self,
        plugin: PluginId | object,
        listen_fn: Handler,
        phase: str,
        /,
        *,
        event: str | None = None,
        match: Mapping[str, object] | None = None,
        **options: object,
    ) -> HandlerId:
        """
        Register one more handler on behalf of an added plugin (Rigger's
        ``register_plugin_hook``): it is removed with the plugin.

        :param plugin: the plugin's id, or the plugin itself.
        :param listen_fn: the handler.
        :param phase: as for `handles`; so are ``event``, ``match`` and
            ``options``.
        :raises UnknownPluginError: if the plugin is not added here.
        """
        record = self._record_for(plugin)
        mark = HandlerMark(phase, event, dict(match or {}), options)
        return self._register(record, listen_fn, mark)

    def remove_plugin(self, plugin_id: PluginId) -> Deferred[None]:
        """
        Remove every handler of a plugin at once, then stop and close it if
        it was started or initialized.

        :returns: a Deferred firing with None once the plugin is stopped and
            closed (at once for a plugin still initializing or starting: it
            is closed when that is over); their failures are logged, not
            raised.
        :raises UnknownPluginError: if ``plugin_id`` is not added here.
        """
        record = self._records.pop(plugin_id, None) if isinstance(plugin_id, PluginId) else None
        if record is None:
            raise UnknownPluginError(plugin_id)
        self._unregister_all(record)
        done: Deferred[None] = Deferred()
        record.lifecycle.remove(done)
        return done

    def plugins(self) -> tuple[PluginInfo, ...]:
        """
        Every added plugin, in the order they were added.
        """
        return tuple(
            PluginInfo(
                record.plugin_id, record.plugin, record.source, record.state, tuple(record.handler_ids)
            )
            for record in self._records.values()
        )

    def plugin_of(self, handler_id: HandlerId) -> PluginId | None:
        """
        The plugin a handler was registered for, or None.
        """
        return self._owners.get(handler_id)

    def _record_for(self, plugin: PluginId | object) -> PluginRecord:
        if isinstance(plugin, PluginId):
            record = self._records.get(plugin)
            if record is not None:
                return record
        else:
            for record in self._records.values():
                if record.plugin is plugin:
                    return record
        raise UnknownPluginError(plugin)

    def _register(self, record: PluginRecord, fn: Handler, mark: HandlerMark) -> HandlerId:
        if record.handler_name is not None and fn is record.plugin and "name" not in mark.options:
            mark = attrs.evolve(mark, options={"name": record.handler_name, **mark.options})
        if mark.event is not None:
            if self._declared is None:
                raise TypeError(
                    f"handler {describe_callable(fn)} is marked for declared event {mark.event!r}, "
                    "but the host's dispatcher declares no events"
                )
            handler_id = self._declared.register(fn, mark.phase, mark.event, match=mark.match, **mark.options)
        else:
            options = {"use_weakref": False, **mark.options}
            # Options belong to the handler model of the dispatcher.
            register = cast(Callable[..., HandlerId], self._dispatcher.register)
            handler_id = register(fn, mark.phase, match=mark.match, **options)
        record.handler_ids.append(handler_id)
        self._owners[handler_id] = record.plugin_id
        return handler_id

    def _unregister_all(self, record: PluginRecord) -> None:
        for handler_id in record.handler_ids:
            self._owners.pop(handler_id, None)
            # It may be gone already: removed by the plugin itself, or garbage collected.
            with contextlib.suppress(UnknownHandlerError):
                self._dispatcher.unregister(handler_id)
        record.handler_ids.clear()

    # Lifecycle

    def startService(self) -> None:
        """
        Initialize the plugins, start the dispatcher, then start the plugins;
        see `when_started`.  Started again while it stops, the host starts
        once the stop is over.
        """
        if self.running:
            _log.warn("{host} is already started", host=self)
            return
        Service.startService(self)
        self._core.lifecycle.start()
        self._core.advance()

    def when_started(self) -> Deferred[None]:
        """
        A Deferred firing with None once the host is running: every plugin
        added so far is initialized and started, or has failed.  (It also
        fires if the host is stopped before that.)
        """
        waiter: Deferred[None] = Deferred()
        self._core.lifecycle.when_started(waiter)
        self._core.advance()
        return waiter

    def stopService(self) -> Deferred[None]:
        """
        Stop the plugins, stop the dispatcher (draining the events in
        flight), then close the plugins.

        A start still in progress is interrupted: the ``initialize()`` or
        ``start()`` being waited for is cancelled (an info line says so; the
        plugin is reported ``failed``, its handlers removed), and
        the plugins not yet initialized are left alone.

        :returns: a Deferred firing with None when all of that is done.
        """
        Service.stopService(self)
        done: Deferred[None] = Deferred()
        self._core.lifecycle.stop(done)
        self._core.advance()
        return done

    def __repr__(self) -> str:
        names = [record.plugin_id.name for record in self._records.values()]
        return f"<PluginHost {self._core.state} plugins={names!r}>"
