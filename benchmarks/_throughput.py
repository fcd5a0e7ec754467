"""
Scenario (b): events per second in a running reactor, with handlers that
return Deferreds the reactor fires on a later turn.

A batch fires many events at once, then waits until every handler's Deferred
has fired and, for a library that waits, every fire's own Deferred too.
`run_batch` needs only ``callLater``, so a test can drive it with a ``Clock``;
`measure` runs batches on the real reactor.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator
from time import perf_counter_ns
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.python.failure import Failure

#: Reactor turns a batch may take before it counts as stuck.
MAX_POLLS = 100_000


class StuckBatch(RuntimeError):
    """
    A batch's handlers or fires did not all finish.
    """


def run_batch(
    fire: Callable[[], object], events: int, per_event: int, hits: list[int], reactor: Any
) -> Deferred[None]:
    """
    Fire ``events`` events; the returned Deferred fires once all of them are done.

    :param per_event: the handler Deferreds one fire creates.
    :param hits: the handlers' counters: ``hits[1]`` counts settled Deferreds.
    """
    settled_goal = hits[1] + events * per_event
    pending = [0]
    failures: list[Failure] = []

    def finished(result: object) -> None:
        pending[0] -= 1
        if isinstance(result, Failure):
            failures.append(result)

    for _ in range(events):
        result = fire()
        if isinstance(result, Deferred):
            pending[0] += 1
            result.addBoth(finished)
    done: Deferred[None] = Deferred()
    _poll(lambda: hits[1] >= settled_goal and not pending[0], done, failures, reactor, MAX_POLLS)
    return done


def _poll(
    ready: Callable[[], bool], done: Deferred[None], failures: list[Failure], reactor: Any, left: int
) -> None:
    if failures:
        done.errback(failures[0])
    elif ready():
        done.callback(None)
    elif not left:
        done.errback(StuckBatch(f"a batch did not finish in {MAX_POLLS} reactor turns"))
    else:
        reactor.callLater(0, _poll, ready, done, failures, reactor, left - 1)


@inlineCallbacks
def _batches(
    batch: Callable[[], Deferred[None]], check: Callable[[], None], events: int, samples: int
) -> Generator[Deferred[None], None, list[float]]:
    yield batch()
    check()
    rates = []
    for _ in range(samples):
        gc.collect()
        start = perf_counter_ns()
        yield batch()
        rates.append(events * 1e9 / (perf_counter_ns() - start))
    return rates


def measure(
    fire: Callable[[], object],
    *,
    events: int,
    per_event: int,
    hits: list[int],
    samples: int,
    timeout_s: float = 300,
) -> list[float]:
    """
    Run the global reactor for one warm-up batch and ``samples`` timed batches.

    The warm-up checks that every event reached ``per_event`` handlers.  The
    reactor can run once per process, so this is the last thing a worker does.

    :returns: events per second, one value per timed batch.
    """
    from twisted.internet import reactor as global_reactor

    reactor: Any = global_reactor  # the running kind, whose run() takes installSignalHandlers

    calls_before = hits[0]

    def check() -> None:
        got = hits[0] - calls_before
        if got != events * per_event:
            raise AssertionError(
                f"(b): a batch of {events} events called {got} handlers, expected {events * per_event}"
            )

    outcome: list[object] = []

    def start() -> None:
        done = _batches(lambda: run_batch(fire, events, per_event, hits, reactor), check, events, samples)
        done.addBoth(outcome.append).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    watchdog = reactor.callLater(timeout_s, reactor.stop)
    reactor.run(installSignalHandlers=False)
    if watchdog.active():
        watchdog.cancel()
    if not outcome:
        raise StuckBatch(f"(b) did not finish in {timeout_s} s")
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    rates: list[float] = outcome[0]  # type: ignore[assignment]
    return rates
