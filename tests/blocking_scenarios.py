"""
Scenarios for twisted_event_dispatcher.blocking, each run in its own process
by tests/test_blocking.py, because crochet runs a reactor in a thread and
pytest-twisted owns the reactor of the test process.

Run one as ``python tests/blocking_scenarios.py NAME``: it prints what it
observed, and the test compares that with what it expects.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from crochet import wait_for
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from twisted_event_dispatcher import DispatcherError, EventDispatcher
from twisted_event_dispatcher.blocking import BlockingDispatcher

KEYWORDS = ("event_type", "role")


def show_error(call: Callable[[], object]) -> None:
    """
    Run ``call``, which must raise, and print the exception's type and message.
    """
    try:
        call()
    except Exception as error:
        print(f"{type(error).__name__}: {error}")
    else:
        print("no error")


def gated_handler(blocking: BlockingDispatcher) -> tuple[Deferred[str], threading.Event]:
    """
    Add a handler that returns ``gate``, unfired, and sets ``started`` when called.
    """
    gate: Deferred[str] = Deferred()
    started = threading.Event()

    def wait_for_gate(event):
        started.set()
        return gate

    blocking.add_event_handler(wait_for_gate, "during", use_weakref=False)
    return gate, started


def happy() -> None:
    dispatcher = EventDispatcher(KEYWORDS)
    blocking = BlockingDispatcher(dispatcher, timeout=5.0)
    threads = []

    def audit(event):
        threads.append(threading.current_thread().name)
        return f"audited {event}"

    async def notify_admin(event):
        return f"notified about {event}"

    audit_id = blocking.add_event_handler(audit, "before")
    admin_id = blocking.register(notify_admin, "during", match={"role": "admin"})
    print(audit_id, admin_id, sep="\n")
    blocking.start()
    print("running:", blocking.running)
    print(blocking.fire_event("bob", role="user").values)
    print(blocking.fire_event("susan", role="admin", timeout=2.5).values)
    blocking.remove_event_handler(admin_id)
    print(blocking.fire_event("eve", role="admin").values)
    print("handlers ran in:", sorted(set(threads)))
    blocking.stop()
    print("running:", blocking.running)


def errors() -> None:
    dispatcher = EventDispatcher(KEYWORDS, handler_errors="fail")
    blocking = BlockingDispatcher(dispatcher)
    show_error(lambda: blocking.fire_event("too early"))
    blocking.start()
    show_error(lambda: blocking.fire_event("bad", colour="red"))
    show_error(lambda: blocking.fire_event("bad", role=["admin"]))
    show_error(lambda: blocking.add_event_handler(print, "durring"))
    show_error(lambda: blocking.register(print, "during", match={"colour": "red"}))

    def broken(event):
        raise KeyError(event)

    broken_id = blocking.add_event_handler(broken, "during")
    try:
        blocking.fire_event("boom")
    except DispatcherError as error:
        print(f"{type(error).__name__}: {error}")
        print("result carried:", error.result.event, [outcome.handler_id for outcome in error.result])
    blocking.remove_event_handler(broken_id)
    show_error(lambda: blocking.remove_event_handler(broken_id))


def timeout_fire() -> None:
    dispatcher = EventDispatcher(KEYWORDS)
    blocking = BlockingDispatcher(dispatcher, timeout=0.2)
    seen = []

    def hang(event):
        return Deferred(lambda _: seen.append(f"{event} cancelled"))

    def later(event):
        seen.append(f"{event} reached the after phase")

    blocking.add_event_handler(hang, "during", role="admin")
    blocking.add_event_handler(later, "after")
    blocking.start()
    try:
        blocking.fire_event("stuck", role="admin")
    except TimeoutError as error:
        print(f"{type(error).__name__}: {error}")
        print("is a DispatcherError:", isinstance(error, DispatcherError))
        print("operation:", error.operation, "timeout:", error.timeout)
    # A call made after the cancellation runs after it in the reactor thread.
    print(blocking.fire_event("quick", role="user", timeout=5.0).values)
    print(seen)
    blocking.stop(timeout=5.0)
    print("stopped: nothing left in flight")


def timeout_stop() -> None:
    dispatcher = EventDispatcher(KEYWORDS)
    blocking = BlockingDispatcher(dispatcher, timeout=5.0)
    gate, started = gated_handler(blocking)
    blocking.start()
    fired = []
    firing = threading.Thread(target=lambda: fired.append(blocking.fire_event("slow").values))
    firing.start()
    started.wait(5.0)
    show_error(lambda: blocking.stop(timeout=0.2))
    print("running:", blocking.running)
    show_error(lambda: blocking.fire_event("refused"))
    reactor.callFromThread(gate.callback, "finished anyway")
    firing.join()
    print("the event in flight went on:", fired)


def reactor_busy() -> None:
    dispatcher = EventDispatcher(KEYWORDS)
    blocking = BlockingDispatcher(dispatcher)
    entered, release = threading.Event(), threading.Event()

    def hold_the_reactor(event):
        entered.set()
        release.wait(5.0)

    def latecomer(event):
        return "latecomer ran"

    blocking.add_event_handler(hold_the_reactor, "during", role="blocker")
    blocking.start()
    firing = threading.Thread(target=lambda: blocking.fire_event("hold", role="blocker"))
    firing.start()
    entered.wait(5.0)
    show_error(lambda: blocking.add_event_handler(latecomer, "during", timeout=0.1))
    release.set()
    firing.join()
    print("the abandoned call did nothing:", blocking.fire_event("next").values)


def reactor_thread() -> None:
    dispatcher = EventDispatcher(KEYWORDS)
    blocking = BlockingDispatcher(dispatcher)
    calls = []
    blocking.add_event_handler(calls.append, "during", use_weakref=False)
    blocking.start()

    @wait_for(timeout=5.0)
    def in_the_reactor():
        for call in [
            lambda: blocking.fire_event("from the reactor"),
            lambda: blocking.add_event_handler(print, "during"),
            lambda: blocking.stop(),
        ]:
            show_error(call)

    in_the_reactor()
    print("still running:", blocking.running)
    print(blocking.fire_event("from a thread").values, calls)


def stop() -> None:
    dispatcher = EventDispatcher(KEYWORDS)
    blocking = BlockingDispatcher(dispatcher)
    gate, started = gated_handler(blocking)
    blocking.start()
    log = []
    firing = threading.Thread(target=lambda: log.append(f"fired: {blocking.fire_event('slow').values}"))
    stopping = threading.Thread(target=lambda: (blocking.stop(), log.append("stop returned")))
    firing.start()
    started.wait(5.0)
    stopping.start()
    while blocking.running:
        time.sleep(0.01)
    # stop() has run in the reactor thread; give it time to return, were it not waiting.
    stopping.join(timeout=0.2)
    print("stop waits for the event in flight:", stopping.is_alive(), log)
    reactor.callFromThread(gate.callback, "done")
    stopping.join()
    firing.join()
    print(sorted(log))
    show_error(lambda: blocking.fire_event("after stop"))
    blocking.start()
    print("restarted:", blocking.running)


def bad_arguments() -> None:
    dispatcher = EventDispatcher(KEYWORDS)
    show_error(lambda: BlockingDispatcher(EventDispatcher(["timeout"])))
    show_error(lambda: BlockingDispatcher("not a dispatcher"))
    show_error(lambda: BlockingDispatcher(dispatcher, timeout=0))
    show_error(lambda: BlockingDispatcher(dispatcher, timeout="5"))
    blocking = BlockingDispatcher(dispatcher)
    show_error(lambda: blocking.start(timeout=float("inf")))
    show_error(lambda: blocking.start(timeout=True))
    print(repr(blocking))


SCENARIOS = {
    scenario.__name__: scenario
    for scenario in [
        happy,
        errors,
        timeout_fire,
        timeout_stop,
        reactor_busy,
        reactor_thread,
        stop,
        bad_arguments,
    ]
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
