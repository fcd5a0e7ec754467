#!/usr/bin/env python3
"""
What a fire (or a registration) costs as the registry and the options in use
change: each cell counts the instructions of one operation on a target set-up
and on a reference set-up, under valgrind, and prints their ratio against the
bound the core's design promises.

    python benchmarks/core.py
    python benchmarks/core.py --cells keywords16,monitor

Like ``benchmarks/instructions.py``, each side runs twice under ``valgrind
--tool=callgrind`` (few operations, then many); the difference divided by
the extra operations is the cost of one, free of start-up and set-up.  The
hash seed is fixed and the heap frozen, so figures repeat exactly.
valgrind is a Debian package; without it this says so and exits 2.

The monitor cells run on the reactor's clock (``time.time``: what a
dispatcher reads unless given a clock), except ``phase_monitor10_clock``,
on Twisted's test clock, whose every reading is a Python call.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KEYWORDS16 = tuple(f"k{number}" for number in range(16))
REGISTERED = 100_000
HANDFUL = 5

Operation = Callable[[], object]


class Counter:
    """
    A handler that counts its calls (a callable object, held strongly).
    """

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: object) -> None:
        self.calls += 1


def dispatcher(keywords: tuple[str, ...] = ("user",), **settings: Any) -> Any:
    from twisted_event_dispatcher import EventDispatcher

    made = EventDispatcher(keywords, **settings)
    made.start()
    return made


# Matching: 16 keywords against one


def random_specs(rng: random.Random, count: int) -> list[dict[str, int]]:
    """
    ``count`` specs, each constraining a random non-empty subset of the 16
    keywords to random values out of 1,000 (so that a fire's values collide
    with many specs on some keyword, and match all of few).
    """
    specs = []
    for _ in range(count):
        chosen = [keyword for keyword in KEYWORDS16 if rng.random() < 0.5] or [rng.choice(KEYWORDS16)]
        specs.append({keyword: rng.randrange(1000) for keyword in chosen})
    return specs


def zero_specs(rng: random.Random) -> list[dict[str, int]]:
    """
    The handful of specs that match a fire of every keyword at 0.
    """
    return [dict.fromkeys(rng.sample(KEYWORDS16, rng.randint(1, 16)), 0) for _ in range(HANDFUL)]


def fire_over_16_keywords() -> Operation:
    rng = random.Random(16)
    made = dispatcher(KEYWORDS16)
    for spec in [*random_specs(rng, REGISTERED - HANDFUL), *zero_specs(rng)]:
        made.register(Counter(), "during", match=spec, use_weakref=False)
    zeros = dict.fromkeys(KEYWORDS16, 0)
    return lambda: made.fire_event("e", **zeros)


def fire_over_one_keyword() -> Operation:
    made = dispatcher(KEYWORDS16)
    for value in range(1, REGISTERED - HANDFUL + 1):
        made.register(Counter(), "during", match={"k0": value}, use_weakref=False)
    for _ in range(HANDFUL):
        made.register(Counter(), "during", match={"k0": 0}, use_weakref=False)
    zeros = dict.fromkeys(KEYWORDS16, 0)
    return lambda: made.fire_event("e", **zeros)


def register_16_keywords() -> Operation:
    specs = random_specs(random.Random(17), REGISTERED)
    handlers = [Counter() for _ in specs]

    def register_all() -> None:
        made = dispatcher(KEYWORDS16)
        for handler, spec in zip(handlers, specs, strict=True):
            made.register(handler, "during", match=spec, use_weakref=False)

    return register_all


def register_one_keyword() -> Operation:
    specs = [{"k0": value} for value in range(REGISTERED)]
    handlers = [Counter() for _ in specs]

    def register_all() -> None:
        made = dispatcher(KEYWORDS16)
        for handler, spec in zip(handlers, specs, strict=True):
            made.register(handler, "during", match=spec, use_weakref=False)

    return register_all


# Options cost only where they are used


def plain_fire(extra: Callable[[Any], None] = lambda made: None) -> Operation:
    made = dispatcher(("user", "kind"))
    made.register(Counter(), "during", use_weakref=False)
    extra(made)
    return lambda: made.fire_event("e", user="bob")


def with_option_handlers_elsewhere(made: Any) -> None:
    """
    Handlers with every kind of option, none of which matches the fires.
    """
    from twisted_event_dispatcher import any_of

    never = {"kind": "never"}
    made.register(Counter(), "during", match=never, where=lambda event, details: True, use_weakref=False)
    made.register(Counter(), "during", match={"kind": any_of("x", "y")}, use_weakref=False)
    for options in ({"times": 3}, {"priority": 2}, {"pass_context": True}, {"errors": "fail"}):
        made.register(Counter(), "during", match=never, use_weakref=False, **options)


def ten_handlers(**options: Any) -> Operation:
    made = dispatcher(("user",))
    for number in range(10):
        given = dict(options)
        if "priority" in given:
            given["priority"] = number % 3
        if "times" in given:
            given["times"] = 10**12
        made.register(Counter(), "during", use_weakref=False, **given)
    return lambda: made.fire_event("e", user="bob")


def ten_with_arguments() -> Operation:
    """
    Ten plain handlers, fired through ``fire`` with per-fire arguments that
    none of them reads.
    """
    made = dispatcher(("user",))
    for _ in range(10):
        made.register(Counter(), "during", use_weakref=False)
    details = {"user": "bob"}
    arguments = {"payload": [1, 2, 3]}
    return lambda: made.fire("e", details, arguments=arguments)


def ten_with_any_of() -> Operation:
    from twisted_event_dispatcher import any_of

    made = dispatcher(("user",))
    for _ in range(10):
        made.register(Counter(), "during", match={"user": any_of("bob", "amy")}, use_weakref=False)
    return lambda: made.fire_event("e", user="bob")


def ten_with_where() -> Operation:
    made = dispatcher(("user",))
    for _ in range(10):
        made.register(Counter(), "during", where=lambda event, details: True, use_weakref=False)
    return lambda: made.fire_event("e", user="bob")


class NoOpMonitor:
    """
    An :class:`~twisted_event_dispatcher.IFireMonitor` whose six hooks do
    nothing (declared in :func:`with_a_monitor`, where zope is imported).
    """

    def fire_started(self, fire: Any) -> None:
        pass

    def phase_started(self, fire: Any, phase: str) -> None:
        pass

    def handler_started(self, fire: Any, handler_id: Any) -> None:
        pass

    def handler_finished(self, fire: Any, handler_id: Any, outcome: Any, seconds: float) -> None:
        pass

    def phase_finished(self, fire: Any, phase: str, seconds: float) -> None:
        pass

    def fire_finished(self, fire: Any, failure: Any, seconds: float) -> None:
        pass


def with_a_monitor(handlers: int) -> Operation:
    """
    A no-op :class:`IFireMonitor` (told as each handler starts and ends),
    on the reactor's clock.
    """
    from zope.interface import classImplements

    from twisted_event_dispatcher import IFireMonitor

    classImplements(NoOpMonitor, IFireMonitor)
    made = counting_dispatcher(handlers, test_clock=False)
    made.add_monitor(NoOpMonitor())
    return lambda: made.fire_event("e", user="bob")


def monitor_by_hand(handlers: int) -> Operation:
    """
    The floor under :func:`with_a_monitor`: the same six hooks called, and
    the same clock (``time.time``) read, by code around a plain fire and
    around each handler, given what that code has at hand (no fire, id or
    outcome to pass).  What is left between the two is what the
    dispatcher adds to tell a monitor.
    """
    import time

    hooks = NoOpMonitor()
    clock = time.time

    def told(handler: Callable[[Any], object]) -> Callable[[Any], object]:
        def call(event: Any) -> object:
            hooks.handler_started(None, None)
            began = clock()
            answer = handler(event)
            hooks.handler_finished(None, None, None, clock() - began)
            return answer

        return call

    made = dispatcher(("user",))
    for _ in range(handlers):
        made.register(told(Counter()), "during", use_weakref=False)

    def fire() -> None:
        began = clock()
        hooks.fire_started(None)
        hooks.phase_started(None, "during")
        made.fire_event("e", user="bob")
        ended = clock()
        hooks.phase_finished(None, "during", ended - began)
        hooks.fire_finished(None, None, ended - began)

    return fire


def with_a_phase_monitor(handlers: int, test_clock: bool = False) -> Operation:
    """
    A no-op :class:`IPhaseMonitor` (told once per phase), on the reactor's
    clock (what a dispatcher uses unless given one: ``time.time``), or on a
    test clock.
    """
    from zope.interface import implementer

    from twisted_event_dispatcher import IPhaseMonitor

    @implementer(IPhaseMonitor)
    class NoOp:
        def fire_started(self, fire: Any) -> None:
            pass

        def phase_ended(self, fire: Any, report: Any) -> None:
            pass

        def fire_finished(self, fire: Any, failure: Any, seconds: float) -> None:
            pass

    made = counting_dispatcher(handlers, test_clock)
    made.add_monitor(NoOp())
    return lambda: made.fire_event("e", user="bob")


def with_the_metrics_monitor(handlers: int) -> Operation:
    from prometheus_client import CollectorRegistry

    from twisted_event_dispatcher.metrics import instrument

    made = counting_dispatcher(handlers, test_clock=False)
    instrument(made, registry=CollectorRegistry())
    return lambda: made.fire_event("e", user="bob")


def with_the_tracing_monitor(handlers: int, sdk: bool, sampled: bool = True) -> Operation:
    """
    The tracing monitor, without an SDK (the API's no-op spans: what a fire
    costs when tracing is installed but not configured), or with the SDK's
    provider and a span processor that drops every span (what making the
    spans costs, before any export), its sampler keeping every trace or none.
    """
    from twisted_event_dispatcher.tracing import TracingMonitor

    provider = tracing_provider(sampled) if sdk else None
    made = counting_dispatcher(handlers, test_clock=False)
    made.add_monitor(TracingMonitor(provider))
    return lambda: made.fire_event("e", user="bob")


def metrics_by_hand(handlers: int) -> Operation:
    """
    The peer of the metrics monitor: the same series (events fired and
    finished, each handler's duration by phase and name, the phase's
    duration) kept with ``prometheus_client`` by code a user would write
    around a plain fire, each handler wrapped to time its call.
    """
    import time

    from prometheus_client import CollectorRegistry, Histogram
    from prometheus_client import Counter as Count

    from twisted_event_dispatcher.metrics import DEFAULT_BUCKETS

    registry = CollectorRegistry()
    fired = Count("fired", "events fired", registry=registry)
    finished = Count("finished", "events over", ["outcome"], registry=registry).labels("succeeded")
    durations = Histogram(
        "handler_seconds", "handler calls", ["phase", "handler"], buckets=DEFAULT_BUCKETS, registry=registry
    )
    phases = Histogram("phase_seconds", "phases", ["phase"], buckets=DEFAULT_BUCKETS, registry=registry)
    phase = phases.labels("during")

    def timed(handler: Callable[[Any], object], series: Any) -> Callable[[Any], object]:
        def call(event: Any) -> object:
            began = time.time()
            try:
                return handler(event)
            finally:
                series.observe(time.time() - began)

        return call

    made = dispatcher(("user",))
    for _ in range(handlers):
        made.register(timed(Counter(), durations.labels("during", "Counter")), "during", use_weakref=False)

    def fire() -> None:
        fired.inc()
        began = time.time()
        made.fire_event("e", user="bob")
        phase.observe(time.time() - began)
        finished.inc()

    return fire


def tracing_by_hand(handlers: int, sdk: bool, sampled: bool = True) -> Operation:
    """
    The peer of the tracing monitor: the same spans (the fire's, the
    phase's under it, each handler's under that) made with the
    OpenTelemetry API by code a user would write around a plain fire, on
    the same provider as :func:`with_the_tracing_monitor`'s.
    """
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    provider = tracing_provider(sampled) if sdk else trace.NoOpTracerProvider()
    tracer = provider.get_tracer("by-hand")
    process = {
        "messaging.system": "rabbitmq",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "events",
    }

    def traced(handler: Callable[[Any], object]) -> Callable[[Any], object]:
        attributes = {"event_dispatcher.phase": "during", "event_dispatcher.handler": "Counter"}

        def call(event: Any) -> object:
            with tracer.start_as_current_span("handler Counter", attributes=attributes):
                return handler(event)

        return call

    made = dispatcher(("user",))
    for _ in range(handlers):
        made.register(traced(Counter()), "during", use_weakref=False)
    phase = {"event_dispatcher.phase": "during"}

    def fire() -> None:
        with (
            tracer.start_as_current_span("process events", kind=SpanKind.CONSUMER, attributes=process),
            tracer.start_as_current_span("phase during", attributes=phase),
        ):
            made.fire_event("e", user="bob")

    return fire


def tracing_provider(sampled: bool) -> Any:
    """
    The SDK's provider with a span processor that drops every span (what
    making the spans costs, before any export), its sampler keeping every
    trace or none.
    """
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    provider = TracerProvider(sampler=ALWAYS_ON if sampled else ALWAYS_OFF)
    provider.add_span_processor(SpanProcessor())  # the base class: does nothing with spans
    return provider


def counting_dispatcher(handlers: int, test_clock: bool = True) -> Any:
    """
    A started dispatcher with ``handlers`` counters that match every fire,
    on a test clock (:class:`~twisted.internet.task.Clock`) or the reactor's.
    """
    from twisted.internet.task import Clock

    made = dispatcher(("user",), clock=Clock()) if test_clock else dispatcher(("user",))
    for _ in range(handlers):
        made.register(Counter(), "during", use_weakref=False)
    return made


def without_a_monitor(handlers: int) -> Operation:
    made = counting_dispatcher(handlers)
    return lambda: made.fire_event("e", user="bob")


# Adding and removing at 100,000 registered, against pyee


def add_remove_here() -> Operation:
    made = dispatcher(("user",))
    keep = []
    for number in range(REGISTERED):
        keep.append(Counter())
        made.add_event_handler(keep[-1], "during", user=f"user-{number}")
    spare = Counter()
    ids: list[Any] = []

    def add_and_remove() -> None:
        made.add_event_handler(spare, "during", user="spare").addCallback(ids.append)
        made.remove_event_handler(ids.pop())

    add_and_remove.keep = keep  # type: ignore[attr-defined]
    return add_and_remove


def register_remove_here() -> Operation:
    """
    ``register`` and ``unregister``, which answer at once (no Deferred):
    what the dispatcher itself costs beside pyee.
    """
    made = dispatcher(("user",))
    keep = []
    for number in range(REGISTERED):
        keep.append(Counter())
        made.register(keep[-1], "during", match={"user": f"user-{number}"})
    spare = Counter()
    match = {"user": "spare"}

    def register_and_unregister() -> None:
        made.unregister(made.register(spare, "during", match=match))

    register_and_unregister.keep = keep  # type: ignore[attr-defined]
    return register_and_unregister


def add_remove_pyee() -> Operation:
    from pyee.twisted import TwistedEventEmitter

    emitter = TwistedEventEmitter()
    keep = []
    for number in range(REGISTERED):
        keep.append(Counter())
        emitter.on(f"user-{number}", keep[-1])
    spare = Counter()

    def add_and_remove() -> None:
        emitter.on("spare", spare)
        emitter.remove_listener("spare", spare)

    add_and_remove.keep = keep  # type: ignore[attr-defined]
    return add_and_remove


@dataclass(frozen=True)
class Cell:
    """
    One row: the cost of one operation of ``target`` over one of
    ``reference``, which the design bounds by ``bound``.
    """

    label: str
    target: Callable[[], Operation]
    reference: Callable[[], Operation]
    bound: float
    runs: tuple[int, int] = (1_000, 11_000)


CELLS: dict[str, Cell] = {
    "keywords16": Cell(
        "fire matching a handful among 100,000 specs over random subsets of 16 keywords / "
        "the same among 100,000 specs over one keyword",
        fire_over_16_keywords,
        fire_over_one_keyword,
        3.0,
    ),
    "register16": Cell(
        "register 100,000 handlers over random subsets of 16 keywords / 100,000 over one keyword",
        register_16_keywords,
        register_one_keyword,
        2.0,
        runs=(1, 2),
    ),
    "elsewhere": Cell(
        "plain fire beside non-matching handlers with options / without them",
        lambda: plain_fire(with_option_handlers_elsewhere),
        plain_fire,
        1.1,
    ),
    "priority10": Cell(
        "ten matching handlers with priority= / ten plain",
        lambda: ten_handlers(priority=1),
        ten_handlers,
        1.5,
    ),
    "any_of10": Cell("ten matching handlers with any_of() / ten plain", ten_with_any_of, ten_handlers, 1.5),
    "times10": Cell(
        "ten matching handlers with times= / ten plain", lambda: ten_handlers(times=1), ten_handlers, 1.5
    ),
    "arguments": Cell(
        "fire with arguments= to ten plain handlers / fire_event to ten plain",
        ten_with_arguments,
        ten_handlers,
        1.2,
    ),
    "where10": Cell("ten matching handlers with where= / ten plain", ten_with_where, ten_handlers, 2.0),
    "monitor": Cell(
        "fire to one handler with a no-op monitor / without",
        lambda: with_a_monitor(1),
        lambda: without_a_monitor(1),
        1.5,
    ),
    "monitor10": Cell(
        "fire to ten handlers with a no-op monitor / without",
        lambda: with_a_monitor(10),
        lambda: without_a_monitor(10),
        1.5,
    ),
    "phase_monitor": Cell(
        "fire to one handler with a no-op IPhaseMonitor / without",
        lambda: with_a_phase_monitor(1),
        lambda: without_a_monitor(1),
        1.5,
    ),
    "phase_monitor10": Cell(
        "fire to ten handlers with a no-op IPhaseMonitor / without",
        lambda: with_a_phase_monitor(10),
        lambda: without_a_monitor(10),
        1.5,
    ),
    "phase_monitor10_clock": Cell(
        "fire to ten handlers with a no-op IPhaseMonitor on a test clock / without",
        lambda: with_a_phase_monitor(10, test_clock=True),
        lambda: without_a_monitor(10),
        1.5,
    ),
    "metrics": Cell(
        "fire to one handler with the metrics monitor / without",
        lambda: with_the_metrics_monitor(1),
        lambda: without_a_monitor(1),
        1.5,
    ),
    "metrics10": Cell(
        "fire to ten handlers with the metrics monitor / without",
        lambda: with_the_metrics_monitor(10),
        lambda: without_a_monitor(10),
        1.5,
    ),
    "tracing": Cell(
        "fire to one handler with the tracing monitor, no SDK / without",
        lambda: with_the_tracing_monitor(1, sdk=False),
        lambda: without_a_monitor(1),
        1.5,
    ),
    "tracing_sdk": Cell(
        "fire to one handler with the tracing monitor and the SDK (spans dropped) / without",
        lambda: with_the_tracing_monitor(1, sdk=True),
        lambda: without_a_monitor(1),
        1.5,
    ),
    "tracing_unsampled": Cell(
        "fire to one handler with the tracing monitor and the SDK, its trace not sampled / without",
        lambda: with_the_tracing_monitor(1, sdk=True, sampled=False),
        lambda: without_a_monitor(1),
        1.5,
    ),
    "tracing_sdk10": Cell(
        "fire to ten handlers with the tracing monitor and the SDK (spans dropped) / without",
        lambda: with_the_tracing_monitor(10, sdk=True),
        lambda: without_a_monitor(10),
        1.5,
    ),
    "add_remove": Cell(
        "add_event_handler + remove_event_handler at 100,000 registered / pyee's on + remove_listener",
        add_remove_here,
        add_remove_pyee,
        1.0,
    ),
    "register_remove": Cell(
        "register + unregister at 100,000 registered / pyee's on + remove_listener",
        register_remove_here,
        add_remove_pyee,
        1.0,
    ),
}


def by_hand(handlers: int, sdk: bool | None = None, sampled: bool = True) -> Cell:
    """
    The metrics monitor (``sdk`` None) or the tracing monitor (without or
    with the SDK, ``sampled`` or not) against the same series or spans kept
    by hand (:func:`metrics_by_hand`, :func:`tracing_by_hand`), for a fire
    to ``handlers`` handlers.
    """
    fire = f"fire to {handlers} handler(s) with the"
    if sdk is None:
        return Cell(
            f"{fire} metrics monitor / the same series kept by hand",
            lambda: with_the_metrics_monitor(handlers),
            lambda: metrics_by_hand(handlers),
            1.0,
        )
    provider = ("the SDK" if sampled else "the SDK, not sampled") if sdk else "no SDK"
    return Cell(
        f"{fire} tracing monitor, {provider} / the same spans made by hand",
        lambda: with_the_tracing_monitor(handlers, sdk, sampled),
        lambda: tracing_by_hand(handlers, sdk, sampled),
        1.0,
    )


CELLS.update(
    monitor_by_hand=Cell(
        "fire to one handler with a no-op monitor / the same hooks called by hand",
        lambda: with_a_monitor(1),
        lambda: monitor_by_hand(1),
        1.0,
    ),
    monitor10_by_hand=Cell(
        "fire to ten handlers with a no-op monitor / the same hooks called by hand",
        lambda: with_a_monitor(10),
        lambda: monitor_by_hand(10),
        1.0,
    ),
    metrics_by_hand=by_hand(1),
    metrics10_by_hand=by_hand(10),
    tracing_by_hand=by_hand(1, sdk=False),
    tracing_sdk_by_hand=by_hand(1, sdk=True),
    tracing_sdk10_by_hand=by_hand(10, sdk=True),
    tracing_unsampled_by_hand=by_hand(1, sdk=True, sampled=False),
)


def inner(cell: str, side: str, runs: int) -> None:
    """
    In the process valgrind watches: set up, warm up, then run ``runs`` operations.
    """
    spec = CELLS[cell]
    operation = (spec.target if side == "target" else spec.reference)()
    operation()
    gc.collect()
    gc.freeze()
    for _ in range(runs):
        operation()


def collected(cell: str, side: str, runs: int) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--inner",
        cell,
        side,
        str(runs),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=False
    )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if done.returncode or found is None:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output")
    return int(found.group(1))


def per_operation(cell: str, side: str) -> float:
    few, many = CELLS[cell].runs
    return (collected(cell, side, many) - collected(cell, side, few)) / (many - few)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--inner", nargs=3, metavar=("CELL", "SIDE", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        cell, side, runs = args.inner
        inner(cell, side, int(runs))
        return 0
    cells = [cell for cell in args.cells.split(",") if cell]
    unknown = [cell for cell in cells if cell not in CELLS]
    if unknown:
        parser.error(f"unknown cell(s) {', '.join(unknown)}; cells: {', '.join(CELLS)}")
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    jobs = [(cell, side) for cell in cells for side in ("target", "reference")]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        figures = dict(zip(jobs, pool.map(lambda job: per_operation(*job), jobs), strict=True))
    print(f"Instructions per operation under callgrind, Python {sys.version.split()[0]}.\n")
    print("| cell | target | reference | ratio | bound | |")
    print("|---|---:|---:|---:|---:|---|")
    for cell in cells:
        target, reference = figures[(cell, "target")], figures[(cell, "reference")]
        ratio = target / reference
        verdict = "met" if ratio <= CELLS[cell].bound else "MISSED"
        print(
            f"| {cell}: {CELLS[cell].label} | {target:,.0f} | {reference:,.0f} "
            f"| {ratio:.2f} | {CELLS[cell].bound:g} | {verdict} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
