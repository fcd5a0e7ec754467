"""
The plugin lifecycle as a whole.  A state machine drives a host through
random sequences of adding and removing plugins and starting and stopping
the host, with plugins whose initialize/start/stop/close succeed, fail, wait
for the clock, or call the host back (stop or start it, remove themselves,
add a plugin).  After each step it
checks that every plugin was called only as its lifecycle allows, that the
host reports the states a model says, and, once nothing waits, that the host
and every plugin came to rest where the last start or stop says; at the end,
that nothing was left unhandled and no transition was refused.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from support import unhandled_errors
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock, deferLater
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.plugins import LIFECYCLE, PluginHost, handles

Outcome = Literal[
    "ok",
    "fail",
    "wait",
    "wait, fail",
    "wait, ignore cancel",
    "stop host",
    "start host",
    "remove itself",
    "add",
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

#: Where a plugin may be when each lifecycle method is called.
ALLOWED_FROM = {
    "initialize": {"new", "closed"},
    "start": {"initialized"},
    "stop": {"started"},
    "close": {"initialized", "start failed"},
}

#: What each step is called while it runs, and what it leads to.
RUNNING = {"initialize": "initializing", "start": "starting", "stop": "stopping", "close": "closing"}

#: The state the host should report for a plugin, by where the plugin is.
REPORTED = {
    "new": "added",
    "initializing": "initializing",
    "initialized": "initialized",
    "starting": "starting",
    "started": "started",
    "stopping": "started",
    "closing": "initialized",
    "closed": "closed",
    "failed": "failed",
    "start failed": "failed",
}

#: Where a plugin may rest with its host stopped (or after it was removed).
AT_REST_STOPPED = {"new", "closed", "failed"}


class Broken(Exception):
    """
    A lifecycle method failing on purpose.
    """


class Plugin:
    """
    A plugin that behaves as told, and notes where it is and any call its
    lifecycle does not allow.
    """

    def __init__(self, name: str, outcomes: dict[str, Outcome], driver: Lifecycles) -> None:
        self.name = name
        self.outcomes = outcomes
        self.driver = driver
        self.where = "new"
        self.failed = False
        self.removed = False
        for step in outcomes:
            setattr(self, step, self._method(step))

    @handles("during")
    def handle(self, event: object) -> None:
        pass

    def reported(self) -> str:
        if self.where == "closing" and self.failed:
            return "failed"
        return REPORTED[self.where]

    def _method(self, step: str) -> Any:
        def method() -> object:
            return self._called(step)

        return method

    def _called(self, step: str) -> object:
        allowed = ALLOWED_FROM[step]
        if self.where not in allowed or (step in ("initialize", "start") and (self.removed or self.failed)):
            self.driver.violations.append(f"{self.name}: {step}() called while {self.where}")
        if step in ("initialize", "start") and not self.driver.should_run:
            self.driver.violations.append(f"{self.name}: {step}() called after the host was told to stop")
        if step == "start" and not self.driver.host.dispatcher.running:
            self.driver.violations.append(f"{self.name}: start() called with the dispatcher stopped")
        self.where = RUNNING[step]
        outcome = self.outcomes[step]
        if outcome == "wait, ignore cancel":
            return self._finishing_when_cancelled().addBoth(self._ended, step)
        if outcome in ("wait, fail", "wait"):
            waited = deferLater(self.driver.clock, 1, self._finish_later, outcome == "wait, fail")
            return waited.addBoth(self._ended, step)
        if outcome == "fail":
            self._ended(Failure(Broken()), step)
            raise Broken()
        if outcome != "ok":
            # Once only: a plugin that stops its host whenever it is
            # initialized, and starts it whenever it is closed, never rests.
            self.outcomes[step] = "ok"
            self.driver.call_back(self, outcome)
        self._ended(None, step)
        return None

    def _finishing_when_cancelled(self) -> Deferred[None]:
        """
        Wait a second, or succeed at once when cancelled.
        """
        waited: Deferred[None] = Deferred(lambda waiting: waiting.callback(None))
        delayed = self.driver.clock.callLater(1, waited.callback, None)

        def done(result: object) -> object:
            if delayed.active():
                delayed.cancel()
            return result

        return waited.addBoth(done)

    def _finish_later(self, fail: bool) -> None:
        if fail:
            raise Broken()

    def _ended(self, result: object, step: str) -> object:
        succeeded = not isinstance(result, Failure)
        if step == "initialize":
            self.where = "initialized" if succeeded else "failed"
            self.failed = not succeeded
        elif step == "start":
            self.where = "started" if succeeded else "start failed"
            self.failed = not succeeded
        elif step == "stop":
            self.where = "initialized"
        else:
            self.where = "failed" if self.failed else "closed"
        return result


class Lifecycles(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.host = PluginHost(EventDispatcher(("role",), clock=self.clock), drain_timeout=5)
        self.plugins: list[Plugin] = []
        self.violations: list[str] = []
        self.should_run = False
        self.answers: list[tuple[str, Deferred[None], list[object]]] = []
        self.logged: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.logged.append)

    def present(self) -> list[Plugin]:
        return [plugin for plugin in self.plugins if not plugin.removed]

    def expect(self, what: str, answer: Deferred[None]) -> None:
        outcome: list[object] = []
        answer.addBoth(outcome.append)
        self.answers.append((what, answer, outcome))

    def add(self, outcomes: dict[str, Outcome]) -> None:
        plugin = Plugin(f"p{len(self.plugins)}", outcomes, self)
        self.plugins.append(plugin)
        self.host.add_plugin(plugin, plugin.name)

    def remove(self, plugin: Plugin) -> None:
        plugin.removed = True
        (plugin_id,) = [info.plugin_id for info in self.host.plugins() if info.plugin is plugin]
        self.expect(f"remove_plugin({plugin.name})", self.host.remove_plugin(plugin_id))

    def start(self) -> None:
        self.should_run = True
        self.expect("when_started()", self.host.when_started())
        self.host.startService()

    def stop(self) -> None:
        self.should_run = False
        self.expect("stopService()", self.host.stopService())

    def call_back(self, plugin: Plugin, outcome: Outcome) -> None:
        """
        What a plugin's lifecycle method does to its host before it succeeds.
        """
        if outcome == "stop host":
            self.stop()
        elif outcome == "start host" and not self.host.running:
            self.start()
        elif outcome == "remove itself" and not plugin.removed:
            self.remove(plugin)
        elif outcome == "add":
            self.add(dict.fromkeys(LIFECYCLE, "ok"))

    @rule(outcomes=st.fixed_dictionaries({step: st.sampled_from(OUTCOMES) for step in LIFECYCLE}))
    def add_plugin(self, outcomes: dict[str, Outcome]) -> None:
        self.add(outcomes)

    @precondition(lambda self: self.present())
    @rule(data=st.data())
    def remove_plugin(self, data: st.DataObject) -> None:
        self.remove(data.draw(st.sampled_from(self.present())))

    @precondition(lambda self: not self.host.running)
    @rule()
    def start_host(self) -> None:
        self.start()

    @rule()
    def stop_host(self) -> None:
        self.stop()

    @rule(seconds=st.sampled_from([0.5, 1, 2]))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def plugins_were_called_as_their_lifecycle_allows(self) -> None:
        assert self.violations == []

    @invariant()
    def the_host_reports_where_each_plugin_is(self) -> None:
        reported = {info.plugin_id.name: info.state for info in self.host.plugins()}
        assert reported == {plugin.name: plugin.reported() for plugin in self.present()}

    @invariant()
    def only_plugins_fail_and_nothing_is_unhandled(self) -> None:
        for event in self.logged:
            failure = event.get("log_failure")
            if failure is not None:
                assert event["log_format"] == "{plugin}: {step}() failed{consequence}", event
                assert failure.check(Broken, CancelledError), failure
        assert unhandled_errors(self.logged) == []

    @invariant()
    def at_rest_everything_is_where_the_last_start_or_stop_says(self) -> None:
        if self.clock.getDelayedCalls():
            return
        for what, _, outcome in self.answers:
            assert outcome == [None], what
        wheres = {plugin.name: plugin.where for plugin in self.present()}
        if self.should_run:
            assert self.host.state == "running"
            assert self.host.dispatcher.running
            assert set(wheres.values()) <= {"started", "failed"}, wheres
        else:
            assert self.host.state == "stopped"
            assert not self.host.dispatcher.running
            assert set(wheres.values()) <= AT_REST_STOPPED, wheres
        gone = {plugin.name: plugin.where for plugin in self.plugins if plugin.removed}
        assert set(gone.values()) <= AT_REST_STOPPED, gone

    def teardown(self) -> None:
        try:
            self.stop()
            for _ in range(100):
                if not self.clock.getDelayedCalls():
                    break
                self.clock.advance(1)
            self.at_rest_everything_is_where_the_last_start_or_stop_says()
            assert self.violations == []
            # Failed Deferreds that are collected later are caught by the
            # guard every test has (conftest.py), which collects garbage.
            self.only_plugins_fail_and_nothing_is_unhandled()
        finally:
            globalLogPublisher.removeObserver(self.logged.append)


Lifecycles.TestCase.settings = settings(deadline=None, max_examples=200, stateful_step_count=30)
test_plugin_and_host_lifecycles = Lifecycles.TestCase
