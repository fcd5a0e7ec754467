"""
Measuring: repeated timing samples, add/remove costs, memory, and the check
that a fire reaches exactly the handlers it should.

Stdlib only (Twisted is imported lazily, to recognise Deferreds).  Times are
``perf_counter_ns``; every sample starts after a full garbage collection, and
the collector stays on while timing, since the garbage a fire makes is part
of its cost.
"""

from __future__ import annotations

import gc
import statistics
import tracemalloc
from collections.abc import Callable, Sequence
from itertools import repeat
from time import perf_counter_ns
from typing import Any

MAX_LOOPS = 5_000_000


class Mismatch(AssertionError):
    """
    A fire did not reach the expected handlers, or its Deferred failed or was not fired.
    """


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """
    Median, min, max and quartiles of ``samples``.
    """
    ordered = sorted(samples)
    if len(ordered) > 1:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
        "count": len(ordered),
    }


def check_fire(fire: Callable[[], object], hits: list[int], expected: int, what: str) -> None:
    """
    Fire once; raise `Mismatch` unless exactly ``expected`` handlers were called
    and any Deferred returned has already fired without failure.
    """
    before = hits[0]
    result = fire()
    got = hits[0] - before
    if got != expected:
        raise Mismatch(f"{what}: one fire called {got} handlers, expected {expected}")
    _check_settled(result, what)


def _check_settled(result: object, what: str) -> None:
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

    if not isinstance(result, Deferred):
        return
    if not result.called:
        raise Mismatch(f"{what}: fire() returned a Deferred that has not fired")
    outcome: list[object] = []
    result.addBoth(outcome.append)
    if isinstance(outcome[0], Failure):
        raise Mismatch(f"{what}: fire() failed: {outcome[0].getErrorMessage()}")


def loop_ns(fire: Callable[[], object], loops: int) -> int:
    start = perf_counter_ns()
    for _ in repeat(None, loops):
        fire()
    return perf_counter_ns() - start


def calibrate(fire: Callable[[], object], sample_s: float) -> int:
    """
    How many calls of ``fire`` take about ``sample_s`` seconds (warming it up on the way).
    """
    target_ns = sample_s * 1e9
    loops = 1
    while True:
        elapsed = loop_ns(fire, loops)
        if elapsed >= target_ns / 4 or loops >= MAX_LOOPS:
            break
        loops *= 10 if elapsed < target_ns / 100 else 2
    return max(1, min(MAX_LOOPS, int(target_ns * loops / max(elapsed, 1))))


def time_add_remove(
    add: Callable[[Any], object],
    remove: Callable[[Any], object],
    spares: Sequence[object],
    *,
    sample_s: float,
    samples: int,
) -> tuple[list[float], list[float]]:
    """
    Samples of ns per ``add`` and ns per ``remove``: each sample adds a batch of
    spares, then removes them, so the registry returns to its size.
    """
    batch = _batch_size(add, remove, spares, sample_s)
    adds, removes = [], []
    for _ in range(samples):
        gc.collect()
        add_ns, remove_ns = _add_then_remove(add, remove, spares[:batch])
        adds.append(add_ns / batch)
        removes.append(remove_ns / batch)
    return adds, removes


def _add_then_remove(
    add: Callable[[Any], object], remove: Callable[[Any], object], items: Sequence[object]
) -> tuple[int, int]:
    start = perf_counter_ns()
    tokens = [add(item) for item in items]
    added = perf_counter_ns()
    for token in tokens:
        remove(token)
    return added - start, perf_counter_ns() - added


def _batch_size(
    add: Callable[[Any], object], remove: Callable[[Any], object], spares: Sequence[object], sample_s: float
) -> int:
    probe = min(10, len(spares))
    elapsed = sum(_add_then_remove(add, remove, spares[:probe]))
    per_item = max(elapsed / probe, 1)
    return max(1, min(len(spares), int(sample_s * 1e9 / per_item)))


def traced_build(build: Callable[[], Any]) -> tuple[Any, int, int]:
    """
    Call ``build`` under tracemalloc.

    :returns: what ``build`` returned, the bytes it left allocated (after a
        garbage collection), and its peak allocation.
    """
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        built = build()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return built, current - base, peak - base
