#!/usr/bin/env python3
"""
What a scrape of ``GET /metrics`` costs the reactor, and what it costs in
all: the service copies its numbers in the reactor thread, then makes the
metric families and their text in a thread.  This times both parts, as the
service runs them, for 10 to 1,000 handler series, and prints the share of
a scrape that the reactor pays.

    python benchmarks/metrics_scrape.py
    python benchmarks/metrics_scrape.py --handlers 10,100 --rounds 5

Wall-clock medians of several rounds; compare the columns of one row, not
figures across runs (this machine's figures move by up to 2x).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def service_metrics(handlers: int) -> Any:
    """
    The service's metrics (process, platform, GC, the dispatcher's) after
    one fire of each of ``handlers`` handlers, spread over three phases.
    """
    from twisted.internet.task import Clock

    from twisted_event_dispatcher import EventDispatcher
    from twisted_event_dispatcher._telemetry import _Metrics
    from twisted_event_dispatcher.config import MetricsSettings

    metrics = _Metrics(MetricsSettings(enabled=True))
    dispatcher = EventDispatcher(("n",), clock=Clock())
    dispatcher.add_monitor(metrics.monitor)
    dispatcher.start()
    for number in range(handlers):
        phase = dispatcher.phases[number % 3]
        dispatcher.register(
            Handler(), phase, match={"n": number}, name=f"handler_{number}", use_weakref=False
        )
        dispatcher.fire_event("e", n=number)
    return metrics


class Handler:
    def __call__(self, event: object) -> None:
        pass


def median_seconds(call: Callable[[], object], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handlers", default="10,100,1000")
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args(argv)
    from twisted_event_dispatcher._telemetry import metrics_text

    print(f"A scrape of GET /metrics, median of {args.rounds} rounds, Python {sys.version.split()[0]}.\n")
    print(
        "| handler series | bytes | copy (reactor thread) | families and text (a thread) | reactor's share |"
    )
    print("|---:|---:|---:|---:|---:|")
    for handlers in (int(count) for count in args.handlers.split(",")):
        metrics = service_metrics(handlers)
        copy = median_seconds(metrics.snapshots, args.rounds)
        collectors = metrics.snapshots()
        text = median_seconds(lambda: metrics_text(collectors), args.rounds)  # noqa: B023
        size = len(metrics_text(collectors))
        share = copy / (copy + text)
        print(f"| {handlers:,} | {size:,} | {copy * 1e3:.3f} ms | {text * 1e3:.1f} ms | {share:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
