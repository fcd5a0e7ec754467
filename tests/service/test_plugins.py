"""
Plugins: marked handlers, adding and removing, and the lifecycle run by
PluginHost as a service.
"""

from __future__ import annotations

import gc
import types

import pytest
from service_helpers import messages, result_of
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.logger import LogLevel

from twisted_event_dispatcher import EventDispatcher, UnknownKeywordError, UnknownPhaseError
from twisted_event_dispatcher.declarations import DeclaredDispatcher, EventDeclaration, SignatureMismatchError
from twisted_event_dispatcher.plugins import (
    HandlerMark,
    PluginHost,
    UnknownPluginError,
    handles,
    marked_handlers,
    marks_of,
)


def plain_host() -> PluginHost:
    return PluginHost(EventDispatcher(["event_type", "role"]))


def fire(host: PluginHost, event: object = "e", **details: object):
    return result_of(host.dispatcher.fire_event(event, **details))


class Audit:
    """A plugin with two handlers and no lifecycle."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    @handles("before")
    def first(self, event):
        self.seen.append(("first", event))

    @handles("after", match={"role": "admin"})
    @handles("during", match={"event_type": "created"})
    def second(self, event):
        self.seen.append(("second", event))


class Journal:
    """A plugin that writes each lifecycle step, and whether the dispatcher runs, to a shared list."""

    def __init__(self, name: str, journal: list, host: PluginHost) -> None:
        self.name = name
        self.journal = journal
        self.host = host

    def _note(self, step: str) -> None:
        self.journal.append((self.name, step, self.host.dispatcher.running))

    def initialize(self):
        self._note("initialize")

    def start(self):
        self._note("start")

    def stop(self):
        self._note("stop")

    def close(self):
        self._note("close")

    @handles("during")
    def handle(self, event):
        self.journal.append((self.name, "event", event))


class SlowToInitialize:
    """A plugin whose initialize() waits for its gate, and which notes start() and close()."""

    def __init__(self) -> None:
        self.gate: Deferred[None] = Deferred()
        self.journal: list[str] = []

    def initialize(self):
        return self.gate

    def start(self):
        self.journal.append("started")

    def close(self):
        self.journal.append("closed")


# Marks


def test_handles_records_phase_event_match_and_options():
    @handles("during", event="kettle_on", match={"kettle": "k"}, times=2)
    def on(kettle):
        pass

    assert marks_of(on) == (HandlerMark("during", "kettle_on", {"kettle": "k"}, {"times": 2}),)


def test_stacked_marks_are_kept_in_reading_order():
    assert [mark.phase for mark in marks_of(Audit.second)] == ["after", "during"]


def test_handles_refuses_what_it_cannot_mark():
    with pytest.raises(TypeError, match="cannot mark <built-in method append"):
        handles("during")([].append)


def test_handles_refuses_bad_phase_and_match():
    with pytest.raises(TypeError, match="phase must be a string"):
        handles(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="match must be a mapping"):
        handles("during", match=["role"])  # type: ignore[arg-type]


def test_marked_handlers_are_bound_and_in_definition_order():
    audit = Audit()
    found = marked_handlers(audit)
    assert [(fn, mark.phase) for fn, mark in found] == [
        (audit.first, "before"),
        (audit.second, "after"),
        (audit.second, "during"),
    ]


def test_marked_static_and_class_methods_and_instance_attributes_are_found():
    class Mixed:
        @staticmethod
        @handles("before")
        def static(event):
            pass

        @classmethod
        @handles("during")
        def of_class(cls, event):
            pass

    mixed = Mixed()
    mixed.late = handles("after")(lambda event: None)
    assert [(fn, mark.phase) for fn, mark in marked_handlers(mixed)] == [
        (Mixed.static, "before"),
        (Mixed.of_class, "during"),
        (mixed.late, "after"),
    ]


# Adding and removing


def test_add_plugin_registers_every_marked_handler():
    host = plain_host()
    host.dispatcher.start()
    audit = Audit()
    plugin_id = host.add_plugin(audit)
    fire(host, "e1", event_type="created", role="admin")
    fire(host, "e2", role="user")
    assert audit.seen == [("first", "e1"), ("second", "e1"), ("second", "e1"), ("first", "e2")]
    (info,) = host.plugins()
    assert (info.plugin_id, info.plugin, info.state, info.source) == (plugin_id, audit, "added", None)
    assert plugin_id.name == "Audit"
    assert [host.plugin_of(handler_id) for handler_id in info.handler_ids] == [plugin_id] * 3
    assert set(info.handler_ids) == set(host.dispatcher.handler_ids())


def test_remove_plugin_removes_every_handler():
    host = plain_host()
    host.dispatcher.start()
    audit = Audit()
    plugin_id = host.add_plugin(audit, "audit")
    assert result_of(host.remove_plugin(plugin_id)) is None
    fire(host, "e", event_type="created", role="admin")
    assert audit.seen == []
    assert host.dispatcher.handler_ids() == []
    assert host.plugins() == ()
    with pytest.raises(UnknownPluginError, match=r"no plugin <PluginId #[0-9]+ audit> is added"):
        host.remove_plugin(plugin_id)


def test_plugins_are_held_by_the_host():
    """Handlers are held strongly by default: the host owns its plugins."""
    host = plain_host()
    host.dispatcher.start()
    seen = []

    class Dropped:
        @handles("during")
        def handle(self, event):
            seen.append(event)

    host.add_plugin(Dropped())
    gc.collect()
    fire(host, "kept")
    assert seen == ["kept"]


def test_module_and_function_plugins():
    """A module's marked functions are its handlers; a marked function is a plugin by itself."""
    host = plain_host()
    host.dispatcher.start()
    seen = []
    module = types.ModuleType("hooks")
    module.on_created = handles("during", match={"event_type": "created"})(lambda event: seen.append(event))
    module.helper = len

    @handles("after")
    def lone(event):
        seen.append(("lone", event))

    module_id = host.add_plugin(module)
    lone_id = host.add_plugin(lone)
    fire(host, "e", event_type="created")
    assert seen == ["e", ("lone", "e")]
    assert (module_id.name, lone_id.name) == ("hooks", "lone")


def test_a_class_is_refused_with_advice():
    with pytest.raises(TypeError, match="is a class: add an instance of it"):
        plain_host().add_plugin(Audit)


def test_an_object_with_nothing_to_add_is_refused():
    with pytest.raises(
        ValueError, match="no handler marked with @handles and no initialize/start/stop/close"
    ):
        plain_host().add_plugin(object())


def test_a_refused_handler_leaves_no_handler_of_the_plugin_and_names_it():
    class Broken:
        @handles("during")
        def fine(self, event):
            pass

        @handles("during", match={"colour": "red"})
        def wrong(self, event):
            pass

    host = plain_host()
    with pytest.raises(UnknownKeywordError) as raised:
        host.add_plugin(Broken(), "broken", source="test")
    assert raised.value.__notes__ == ["while adding plugin 'broken' from test"]
    assert host.dispatcher.handler_ids() == []
    assert host.plugins() == ()


def test_unknown_phase_is_refused():
    class Late:
        @handles("later")
        def handle(self, event):
            pass

    with pytest.raises(UnknownPhaseError):
        plain_host().add_plugin(Late())


def test_handler_options_are_passed_to_the_dispatcher():
    """The handler model's options reach register(); ones it does not know are its error."""
    host = plain_host()
    host.dispatcher.start()
    seen = []

    class Once:
        @handles("during", times=1)
        def handle(self, event):
            seen.append(event)

    host.add_plugin(Once())
    fire(host, "first")
    fire(host, "second")
    assert seen == ["first"]

    class Unknown:
        @handles("during", colour="red")
        def handle(self, event):
            pass

    with pytest.raises(TypeError, match="colour"):
        plain_host().add_plugin(Unknown())


def test_use_weakref_option_overrides_the_default():
    host = plain_host()
    host.dispatcher.start()
    seen = []

    class Weak:
        @handles("during", use_weakref=True)
        def handle(self, event):
            seen.append(event)

    weak = Weak()
    host.add_plugin(weak)
    fire(host, "alive")
    (info,) = host.plugins()
    # The host holds the plugin itself, so the bound method's instance lives on.
    assert info.handler_ids[0].handler() == weak.handle
    assert seen == ["alive"]


def test_declared_marks_need_declarations():
    kettle_on = EventDeclaration("kettle_on", ("kettle",), ("kettle",))
    seen = []

    class Kettles:
        @handles("during", event="kettle_on", match={"kettle": "k1"})
        def on(self, kettle):
            seen.append(kettle)

    declared = DeclaredDispatcher([kettle_on])
    host = PluginHost(declared)
    host.add_plugin(Kettles())
    declared.start()
    result_of(declared.fire("kettle_on", kettle="k1"))
    result_of(declared.fire("kettle_on", kettle="k2"))
    assert seen == ["k1"]
    assert host.declared is declared
    with pytest.raises(TypeError, match="marked for declared event 'kettle_on', but the host's dispatcher"):
        plain_host().add_plugin(Kettles())


def test_declared_signature_mismatch_is_refused_when_the_plugin_is_added():
    class Wrong:
        @handles("during", event="kettle_on")
        def on(self, pot):
            pass

    host = PluginHost(DeclaredDispatcher([EventDeclaration("kettle_on", ("kettle",))]))
    with pytest.raises(SignatureMismatchError, match=r"Wrong\.on cannot handle declared event 'kettle_on'"):
        host.add_plugin(Wrong())


def test_add_handler_registers_on_behalf_of_a_plugin():
    """Rigger's register_plugin_hook: the handler goes when the plugin goes."""
    host = plain_host()
    host.dispatcher.start()
    seen = []

    class Rigger:
        def initialize(self):
            host.add_handler(self, seen.append, "during", match={"role": "admin"})

    rigger = Rigger()
    plugin_id = host.add_plugin(rigger)
    rigger.initialize()
    fire(host, "admin event", role="admin")
    host.add_handler(plugin_id, lambda event: seen.append("by id"), "after")
    fire(host, "user event", role="user")
    result_of(host.remove_plugin(plugin_id))
    fire(host, "gone", role="admin")
    assert seen == ["admin event", "by id"]
    with pytest.raises(UnknownPluginError):
        host.add_handler(rigger, seen.append, "during")


# Lifecycle


def test_lifecycle_runs_in_order_around_the_dispatcher():
    """initialize in order, dispatcher starts, start in order; then the mirror image."""
    journal: list = []
    host = plain_host()
    for name in ("a", "b"):
        host.add_plugin(Journal(name, journal, host), name)
    host.startService()
    assert result_of(host.when_started()) is None
    assert host.state == "running"
    assert journal == [
        ("a", "initialize", False),
        ("b", "initialize", False),
        ("a", "start", True),
        ("b", "start", True),
    ]
    assert [info.state for info in host.plugins()] == ["started", "started"]
    del journal[:]
    assert result_of(host.stopService()) is None
    assert journal == [
        ("b", "stop", True),
        ("a", "stop", True),
        ("b", "close", False),
        ("a", "close", False),
    ]
    assert [info.state for info in host.plugins()] == ["closed", "closed"]
    assert host.state == "stopped"


def test_lifecycle_waits_for_deferreds_and_coroutines():
    """Each step waits for the previous one, whether it returns a Deferred or is async."""
    journal = []
    gate: Deferred[None] = Deferred()

    class Slow:
        def initialize(self):
            journal.append("slow initialize")
            return gate

    class Async:
        async def initialize(self):
            journal.append("async initialize")
            await succeed(None)
            journal.append("async initialized")

    host = plain_host()
    host.add_plugin(Slow())
    host.add_plugin(Async())
    host.startService()
    started = host.when_started()
    assert journal == ["slow initialize"]
    assert not started.called
    assert not host.dispatcher.running
    gate.callback(None)
    assert journal == ["slow initialize", "async initialize", "async initialized"]
    assert result_of(started) is None
    assert host.dispatcher.running


def test_a_failing_initialize_is_logged_and_the_others_go_on(log_events):
    journal: list = []

    class Failing:
        def initialize(self):
            raise RuntimeError("no bucket")

        @handles("during")
        def handle(self, event):
            journal.append(("failing", "event", event))

        def close(self):
            journal.append("failing closed")

    host = plain_host()
    host.add_plugin(Journal("a", journal, host), "a")
    failing_id = host.add_plugin(Failing(), "failing", source="configuration entry plugins.failing")
    host.add_plugin(Journal("b", journal, host), "b")
    host.startService()
    result_of(host.when_started())
    fire(host, "e")
    assert ("a", "event", "e") in journal
    assert ("b", "event", "e") in journal
    assert ("failing", "event", "e") not in journal
    assert "failing closed" not in journal
    states = {info.plugin_id: info.state for info in host.plugins()}
    assert states[failing_id] == "failed"
    (logged,) = [text for text in messages(log_events) if "failed" in text]
    assert logged == (
        "plugin 'failing' from configuration entry plugins.failing: initialize() failed: "
        "its handlers were removed and the other plugins go on without it"
    )
    (failure_event,) = [event for event in log_events if "log_failure" in event]
    assert failure_event["log_failure"].check(RuntimeError)


def test_a_failing_start_closes_the_plugin(log_events):
    journal = []

    class Failing:
        async def start(self):
            raise RuntimeError("cannot start")

        def close(self):
            journal.append("closed")

        @handles("during")
        def handle(self, event):
            journal.append(event)

    host = plain_host()
    host.add_plugin(Failing())
    host.startService()
    result_of(host.when_started())
    fire(host, "e")
    assert journal == ["closed"]
    assert host.plugins()[0].state == "failed"
    assert any("start() failed" in text and "closing it" in text for text in messages(log_events))


def test_failing_stop_and_close_are_logged_and_the_others_still_close(log_events):
    journal: list = []

    class Failing:
        def stop(self):
            raise RuntimeError("stop failed")

        def close(self):
            raise RuntimeError("close failed")

    host = plain_host()
    host.add_plugin(Journal("a", journal, host), "a")
    host.add_plugin(Failing(), "failing")
    host.startService()
    result_of(host.stopService())
    assert [step for _, step, _ in journal] == ["initialize", "start", "stop", "close"]
    texts = messages(log_events)
    assert "plugin 'failing': stop() failed" in texts
    assert "plugin 'failing': close() failed" in texts


def test_stop_drains_events_in_flight_before_closing_plugins():
    """Plugins are closed only once the events their handlers work on have finished."""
    journal = []
    pending: Deferred[None] = Deferred()

    class Waiting:
        @handles("during")
        def handle(self, event):
            journal.append("handling")
            return pending

        def close(self):
            journal.append("closed")

    host = plain_host()
    host.add_plugin(Waiting())
    host.startService()
    fired = host.dispatcher.fire_event("e")
    stopped = host.stopService()
    assert journal == ["handling"]
    assert not stopped.called
    pending.callback(None)
    assert journal == ["handling", "closed"]
    assert result_of(stopped) is None
    assert result_of(fired).succeeded


def test_plugins_added_during_initialize_are_initialized_and_started_in_turn():
    journal: list = []
    host = plain_host()

    class Parent(Journal):
        def initialize(self):
            super().initialize()
            host.add_plugin(Journal("child", journal, host), "child")

    host.add_plugin(Parent("parent", journal, host), "parent")
    host.add_plugin(Journal("sibling", journal, host), "sibling")
    host.startService()
    result_of(host.when_started())
    assert [(name, step) for name, step, _ in journal] == [
        ("parent", "initialize"),
        ("sibling", "initialize"),
        ("child", "initialize"),
        ("parent", "start"),
        ("sibling", "start"),
        ("child", "start"),
    ]


def test_a_handler_may_add_a_plugin_for_later_events():
    """pubtools' two-stage task_start: a handler adds a plugin that keeps state."""
    journal: list = []
    host = plain_host()

    class Bootstrap:
        @handles("during", match={"event_type": "task_start"})
        def task_start(self, event):
            host.add_plugin(Journal("stateful", journal, host), "stateful")

    host.add_plugin(Bootstrap())
    host.startService()
    result_of(host.when_started())
    fire(host, "start", event_type="task_start")
    assert [(name, step) for name, step, _ in journal] == [("stateful", "initialize"), ("stateful", "start")]
    fire(host, "later", event_type="kettle_on")
    assert journal[-1] == ("stateful", "event", "later")
    result_of(host.stopService())
    assert [step for _, step, _ in journal[-2:]] == ["stop", "close"]


def test_stop_interrupts_a_plugin_still_initializing(log_events):
    """A plugin added while running whose initialize() hangs does not hang the stop."""
    slow = SlowToInitialize()
    host = plain_host()
    host.startService()
    host.add_plugin(slow, "slow")
    stopped = host.stopService()
    assert slow.gate.called  # cancelled
    assert slow.journal == []
    assert result_of(stopped) is None
    assert host.plugins()[0].state == "failed"
    # A cancellation by the stop is no failure of the plugin: an info line, no traceback.
    assert [event for event in log_events if "log_failure" in event] == []
    line = "plugin 'slow': initialize() was cancelled: its host is stopping"
    (logged,) = [event for event in log_events if messages([event]) == [line]]
    assert logged["log_level"] == LogLevel.info


class SlowToStart:
    def __init__(self) -> None:
        self.gate: Deferred[None] = Deferred()

    def start(self):
        return self.gate


def test_a_start_cancelled_by_the_stop_is_logged_as_the_stop_it_is(log_events):
    host = plain_host()
    host.add_plugin(SlowToStart(), "slow")
    host.startService()
    assert result_of(host.stopService()) is None
    assert [event for event in log_events if "log_failure" in event] == []
    assert "plugin 'slow': start() was cancelled: its host is stopping" in messages(log_events)


def test_a_cancelled_error_not_from_the_stop_is_still_a_failure(log_events):
    class Cancelling:
        def initialize(self):
            raise CancelledError("gave up by itself")

    host = plain_host()
    host.add_plugin(Cancelling(), "cancelling")
    host.startService()
    (logged,) = [event for event in log_events if "log_failure" in event]
    assert logged["log_failure"].check(CancelledError)
    assert logged["log_level"] == LogLevel.error
    result_of(host.stopService())


def test_stop_interrupts_a_start_in_progress():
    """Stopping while plugins initialize cancels the one waited for and skips the rest."""
    slow = SlowToInitialize()
    journal: list = []
    host = plain_host()
    host.add_plugin(slow, "slow")
    host.add_plugin(Journal("later", journal, host), "later")
    host.startService()
    started = host.when_started()
    assert result_of(host.stopService()) is None
    assert result_of(started) is None
    assert journal == []
    assert [info.state for info in host.plugins()] == ["failed", "added"]
    assert not host.dispatcher.running
    assert host.state == "stopped"


def test_removing_a_started_plugin_stops_and_closes_it():
    journal: list = []
    host = plain_host()
    plugin_id = host.add_plugin(Journal("a", journal, host), "a")
    host.startService()
    del journal[:]
    assert result_of(host.remove_plugin(plugin_id)) is None
    assert [step for _, step, _ in journal] == ["stop", "close"]


def test_a_plugin_removed_while_initializing_is_closed_once_initialized():
    slow = SlowToInitialize()
    host = plain_host()
    plugin_id = host.add_plugin(slow)
    host.startService()
    result_of(host.remove_plugin(plugin_id))
    slow.gate.callback(None)
    assert slow.journal == ["closed"]
    assert result_of(host.when_started()) is None


def test_module_plugins_may_have_lifecycle_functions():
    journal = []
    module = types.ModuleType("background")
    module.initialize = lambda: journal.append("initialize")
    module.close = lambda: journal.append("close")
    host = plain_host()
    host.add_plugin(module)
    host.startService()
    result_of(host.stopService())
    assert journal == ["initialize", "close"]


def test_repr_names_state_and_plugins():
    host = plain_host()
    host.add_plugin(Audit(), "audit")
    assert repr(host) == "<PluginHost stopped plugins=['audit']>"


def test_handles_refuses_what_is_not_callable():
    with pytest.raises(TypeError, match="@handles marks functions and methods, not 3"):
        handles("during")(3)


def test_attributes_that_merely_look_like_marks_are_ignored():
    def fake():
        pass

    fake._twisted_event_dispatcher_marks = ("not a mark",)
    assert marks_of(fake) == ()


def test_a_plugin_removed_while_its_initialize_fails_is_not_closed(log_events):
    slow = SlowToInitialize()
    host = plain_host()
    plugin_id = host.add_plugin(slow, "slow")
    host.startService()
    result_of(host.remove_plugin(plugin_id))
    slow.gate.errback(RuntimeError("never mind"))
    assert slow.journal == []
    assert "plugin 'slow': initialize() failed" in " ".join(messages(log_events))


def test_host_stop_drains_with_its_deadline():
    """
    The service's stop uses the dispatcher's deadline: an event still in
    flight after drain_timeout is cancelled, and the stop completes.
    """
    from twisted.internet.defer import Deferred
    from twisted.internet.task import Clock

    from twisted_event_dispatcher import EventDispatcher, FireCancelled

    clock = Clock()
    host = PluginHost(EventDispatcher(("event_type",), clock=clock), drain_timeout=5)
    host.startService()

    class Hangs:
        @handles("during")
        def handle(self, event):
            return Deferred()

    host.add_plugin(Hangs())
    fired = host.dispatcher.fire_event("stuck")
    stopped = host.stopService()
    clock.advance(4)
    assert not stopped.called
    clock.advance(1)
    assert stopped.called
    failures = []
    fired.addErrback(failures.append)
    assert failures[0].check(FireCancelled)


# The lifecycle machines


def test_a_transition_outside_the_table_is_refused():
    """
    A plugin's lifecycle is a declared machine: closing a plugin that is
    still initializing is not a transition it has, so nothing happens but
    automat's NoTransition.
    """
    from automat import NoTransition

    from twisted_event_dispatcher._plugin_lifecycle import PluginId, PluginRecord

    slow = SlowToInitialize()
    record = PluginRecord(PluginId("slow"), slow, None, lambda record: None)
    initialized: Deferred[None] = Deferred()
    record.lifecycle.initialize(initialized)
    with pytest.raises(NoTransition):
        record.lifecycle.close(Deferred())
    assert record.state == "initializing"
    slow.gate.callback(None)
    assert record.state == "initialized"
    assert result_of(initialized) is None
    assert slow.journal == []


def test_a_plugin_removed_while_starting_whose_start_fails_is_closed(log_events):
    """Its initialize() succeeded, so whatever happens to its start(), it is closed."""
    journal = []
    gate: Deferred[None] = Deferred()

    class FailsToStart:
        def start(self):
            return gate

        def close(self):
            journal.append("closed")

    host = plain_host()
    plugin_id = host.add_plugin(FailsToStart())
    host.startService()
    assert result_of(host.remove_plugin(plugin_id)) is None
    gate.errback(RuntimeError("cannot start"))
    assert journal == ["closed"]
    assert any("start() failed" in text for text in messages(log_events))


def test_a_plugin_removed_while_the_host_stops_it_is_stopped_and_closed_once():
    journal: list = []
    gate: Deferred[None] = Deferred()

    class SlowToStop(Journal):
        def stop(self):
            super().stop()
            return gate

    host = plain_host()
    plugin_id = host.add_plugin(SlowToStop("slow", journal, host), "slow")
    host.startService()
    stopped = host.stopService()
    removed = host.remove_plugin(plugin_id)
    assert not removed.called
    gate.callback(None)
    assert result_of(removed) is None
    assert result_of(stopped) is None
    assert [step for _, step, _ in journal] == ["initialize", "start", "stop", "close"]


def test_starting_while_stopping_starts_again_once_stopped():
    journal: list = []
    gate: Deferred[None] = Deferred()

    class SlowToClose(Journal):
        def close(self):
            super().close()
            return gate

    host = plain_host()
    host.add_plugin(SlowToClose("slow", journal, host), "slow")
    host.startService()
    stopped = host.stopService()
    host.startService()
    assert host.state == "stopping"
    started = host.when_started()
    gate.callback(None)
    assert result_of(stopped) is None
    assert result_of(started) is None
    assert host.state == "running"
    assert [step for _, step, _ in journal] == ["initialize", "start", "stop", "close", "initialize", "start"]


def test_starting_a_running_host_again_is_logged_and_ignored(log_events):
    journal: list = []
    host = plain_host()
    host.add_plugin(Journal("a", journal, host), "a")
    host.startService()
    host.startService()
    assert [step for _, step, _ in journal] == ["initialize", "start"]
    assert "<PluginHost running plugins=['a']> is already started" in messages(log_events)


def test_a_plugin_may_stop_its_host_while_it_starts():
    """The stop is heard at once: no plugin after it is initialized."""
    journal: list = []
    host = plain_host()
    stops = []

    class Stopper(Journal):
        def initialize(self):
            super().initialize()
            stops.append(host.stopService())

    host.add_plugin(Stopper("stopper", journal, host), "stopper")
    host.add_plugin(Journal("later", journal, host), "later")
    host.startService()
    (stopped,) = stops
    assert result_of(stopped) is None
    assert [(name, step) for name, step, _ in journal] == [("stopper", "initialize"), ("stopper", "close")]
    assert [info.state for info in host.plugins()] == ["closed", "added"]
    assert host.state == "stopped"
