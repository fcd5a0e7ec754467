"""
The blocking facade, twisted_event_dispatcher.blocking.

crochet runs a reactor in a thread, and pytest-twisted owns the reactor of this
process, so each scenario of tests/blocking_scenarios.py runs in a process of
its own; the tests compare what it printed with what they expect.  A scenario
must also print nothing on stderr: no "Unhandled error" and no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("blocking_scenarios.py")

UNKNOWN_COLOUR = (
    "UnknownKeywordError: unknown keyword(s) 'colour' in {}; allowed keywords are ('event_type', 'role')"
)
NOT_RUNNING = (
    "DispatcherNotRunning: dispatcher is not running: event {!r} was refused and no handler was called; "
    "call start() first"
)
IN_REACTOR = (
    "ReactorThreadError: BlockingDispatcher.{}() was called in the reactor thread, where blocking would "
    "deadlock; in the reactor thread, call the EventDispatcher itself (BlockingDispatcher.dispatcher), "
    "which returns Deferreds"
)


def run_scenario(name: str) -> list[str]:
    """
    Run one scenario in a fresh interpreter and return the lines it printed.
    """
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (completed.returncode, completed.stderr) == (0, ""), (
        f"scenario {name!r} exited with {completed.returncode}\n"
        f"--- stdout\n{completed.stdout}--- stderr\n{completed.stderr}"
    )
    return completed.stdout.splitlines()


def test_handlers_added_fired_and_removed_from_a_thread():
    """
    Ids, fire results and removal come back as plain values; the handlers,
    coroutines included, run in crochet's reactor thread.
    """
    assert run_scenario("happy") == [
        "<HandlerId #1 audit before>",
        "<HandlerId #2 notify_admin during role='admin'>",
        "running: True",
        "('audited bob',)",
        "('audited susan', 'notified about susan')",
        "('audited eve',)",
        "handlers ran in: ['CrochetReactor']",
        "running: False",
    ]


def test_dispatcher_errors_reraise_unchanged_in_the_calling_thread():
    """
    Each error of the dispatcher reaches the caller with its own type, message
    and data: synchronous ones (bad keyword, value or phase) and Deferred
    failures (not running, fatal handler failure, unknown id) alike.
    """
    assert run_scenario("errors") == [
        NOT_RUNNING.format("too early"),
        UNKNOWN_COLOUR.format("fired event details"),
        "UnhashableValueError: value of keyword 'role' in fired event details must be hashable "
        "to be matched, got list ['admin']",
        "UnknownPhaseError: phase 'durring' is not one of ('before', 'during', 'after')",
        UNKNOWN_COLOUR.format("match-spec"),
        "HandlerFailed: 1 handler(s) failed for event 'boom': <HandlerId #1 broken during>: 'boom'",
        "result carried: boom [<HandlerId #1 broken during>]",
        "UnknownHandlerError: no handler with id <HandlerId #1 broken during> is registered "
        "with this dispatcher",
    ]


def test_fire_timeout_raises_and_cancels_the_event():
    """
    A fire that outlasts the facade's timeout raises BlockingTimeoutError (a
    TimeoutError and a DispatcherError naming the call and the timeout); the
    handler's Deferred is cancelled, the event's later phases do not run, and
    it no longer holds up stop().
    """
    assert run_scenario("timeout_fire") == [
        "BlockingTimeoutError: fire_event() did not finish within 0.2 seconds and was cancelled",
        "is a DispatcherError: True",
        "operation: fire_event timeout: 0.2",
        "(None,)",
        "['stuck cancelled', 'quick reached the after phase']",
        "stopped: nothing left in flight",
    ]


def test_stop_timeout_leaves_the_dispatcher_stopped_and_the_event_going():
    """
    A per-call timeout overrides the facade's: stop() gives up waiting for the
    event in flight, the dispatcher refuses new events, and the event in flight
    still finishes.
    """
    assert run_scenario("timeout_stop") == [
        "BlockingTimeoutError: stop() did not finish within 0.2 seconds and was cancelled",
        "running: False",
        NOT_RUNNING.format("refused"),
        "the event in flight went on: [('finished anyway',)]",
    ]


def test_call_that_times_out_before_the_reactor_starts_it_never_runs():
    """
    When the reactor is too busy to start a call before its timeout, the call
    raises BlockingTimeoutError and is dropped: the handler it would have added
    is not added once the reactor gets to it.
    """
    assert run_scenario("reactor_busy") == [
        "BlockingTimeoutError: add_event_handler() did not finish within 0.1 seconds and was cancelled",
        "the abandoned call did nothing: ()",
    ]


def test_calls_from_the_reactor_thread_fail_at_once_and_do_nothing():
    """
    In the reactor thread, every call raises ReactorThreadError instead of
    deadlocking, and none of them has any effect.
    """
    assert run_scenario("reactor_thread") == [
        IN_REACTOR.format("fire_event"),
        IN_REACTOR.format("add_event_handler"),
        IN_REACTOR.format("stop"),
        "still running: True",
        "(None,) ['from a thread']",
    ]


def test_stop_waits_for_events_in_flight_and_start_works_again():
    """
    stop() returns only once the event in flight has finished; then events are
    refused until start() is called again.
    """
    assert run_scenario("stop") == [
        "stop waits for the event in flight: True []",
        "[\"fired: ('done',)\", 'stop returned']",
        NOT_RUNNING.format("after stop"),
        "restarted: True",
    ]


def test_bad_arguments_are_refused_clearly():
    """
    A dispatcher that allows the keyword 'timeout', something that is not a
    dispatcher, and timeouts that are not positive finite numbers are refused
    with errors that name them.
    """
    assert run_scenario("bad_arguments") == [
        "ValueError: 'timeout' cannot be a match-spec keyword of a dispatcher driven by "
        "BlockingDispatcher: it takes timeout as its own argument",
        "TypeError: dispatcher must provide IEventDispatcher and IBackgroundUtility, got 'not a dispatcher'",
        "ValueError: timeout must be a positive, finite number of seconds, got 0",
        "TypeError: timeout must be a number of seconds, got '5'",
        "ValueError: timeout must be a positive, finite number of seconds, got inf",
        "TypeError: timeout must be a number of seconds, got True",
        "<BlockingDispatcher timeout=10 <EventDispatcher stopped phases=('before', 'during', 'after') "
        "keywords=['event_type', 'role']>>",
    ]
