"""
The worker: measures one contender, in a process of its own, and reports raw
samples as JSON for the runner to pool and summarise.
"""

from __future__ import annotations

import gc
import os
import time
import traceback
from collections.abc import Sequence
from typing import Any

from . import _sampling, _throughput
from ._plan import Run, Settings, runs
from .contenders import load
from .contenders._kit import Contender, Hits, NotApplicable, Rig, Wired


def pin_to_cpu(index: int) -> int | None:
    """
    Keep this process on one CPU (the C{index}-th it may use); return it, or None.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[index % len(allowed)]
    os.sched_setaffinity(0, {cpu})
    return cpu


def measure_contender(name: str, settings: Settings) -> dict[str, Any]:
    """
    Every selected row for the contender C{name}: raw samples, or why not.
    """
    contender = load(name)
    report: dict[str, Any] = {"name": name, "title": contender.title, "about": contender.about}
    reason = contender.unavailable()
    if reason is not None:
        report["unavailable"] = reason
        return report
    report["versions"] = contender.versions()
    cells: dict[str, Any] = {}
    for run in runs(settings):
        cells.update(measure_run(contender, run, settings))
    report["cells"] = cells
    return report


def measure_run(contender: Contender, run: Run, settings: Settings) -> dict[str, Any]:
    """
    The cells of one run: measured, not applicable, or an error.
    """
    cells: dict[str, Any] = {}
    n = run.n
    most, why = contender.cap(run.workload)
    capped = most is not None and n > most
    if capped:
        if run.timed is not None:
            cells[run.timed] = {"status": "n/a", "reason": f"not at {n:,}: {why}"}
        if run.memory is None and not run.add_remove:
            return cells
        n = most  # type: ignore[assignment]
        run = Run(run.workload, n, memory=run.memory, add_remove=run.add_remove)
    hits: Hits = [0, 0]
    try:
        rig = prepare(contender, run, n, hits, settings)
    except NotApplicable as reason:
        return cells | {row: {"status": "n/a", "reason": str(reason)} for row in run.row_ids()}
    started = time.monotonic()
    try:
        measured = measure_rig(rig, run, n, hits, settings, f"{contender.name} {run.workload}({n})")
    except Exception as error:
        detail = "".join(traceback.format_exception_only(error)).strip()
        return cells | {row: {"status": "error", "reason": detail} for row in run.row_ids()}
    finally:
        if rig.teardown is not None:
            rig.teardown()
    meta = {"mode": rig.mode, "waits": rig.waits, "note": rig.note, "n": n, "capped": capped}
    meta["run_seconds"] = round(time.monotonic() - started, 2)
    return cells | {row: {"status": "ok", **meta, **found} for row, found in measured.items()}


def prepare(contender: Contender, run: Run, n: int, hits: Hits, settings: Settings) -> Rig:
    """
    The contender's rig for C{run}, with C{n} handlers.
    """
    keys = [f"user-{i}" for i in range(n)]
    target = keys[n // 2]
    if run.workload == "keyed":
        spare_keys = [f"spare-{i}" for i in range(settings.spares)] if run.add_remove else []
        return contender.keyed(keys, target, spare_keys, hits)
    if run.workload == "keyed_two":
        return contender.keyed_two(keys, target, hits)
    if run.workload == "reactor_fanout":
        from twisted.internet import reactor

        return contender.reactor_fanout(n, hits, reactor)
    if run.workload == "phased":
        return contender.phased(hits)
    workload = getattr(contender, run.workload)
    rig: Rig = workload(n, hits)
    return rig


def measure_rig(rig: Rig, run: Run, n: int, hits: Hits, settings: Settings, what: str) -> dict[str, Any]:
    """
    Build the rig and measure it as C{run} asks: row id -> raw samples.

    The library's structures are freed before the handlers: a library that
    holds handlers weakly would otherwise clean up after each dying handler,
    which can cost O(n) each (blinker), minutes at 100k.
    """
    found: dict[str, Any] = {}
    if run.memory is not None:
        wired, kept, peak = _sampling.traced_build(rig.build)
        found[run.memory] = {"samples": [kept / n], "peak_per_handler": peak / n}
    else:
        wired = rig.build()
    handlers = wired.keep
    try:
        return found | measure_wired(wired, rig, run, n, hits, settings, what)
    finally:
        del wired
        gc.collect()
        del handlers


def measure_wired(
    wired: Wired, rig: Rig, run: Run, n: int, hits: Hits, settings: Settings, what: str
) -> dict[str, Any]:
    """
    Time the fires of a built rig (and its add/remove, if asked), checking the
    handler calls before and after.
    """
    if run.reactor and run.timed is not None:
        rates = _throughput.measure(
            wired.fire, events=settings.reactor_events, per_event=n, hits=hits, samples=settings.samples
        )
        return {run.timed: {"samples": rates}}
    found: dict[str, Any] = {}
    _sampling.check_fire(wired.fire, hits, rig.expected, what)
    if run.timed is not None:
        samples = _sampling.time_calls(wired.fire, sample_s=settings.sample_s, samples=settings.samples)
        found[run.timed] = {"samples": [sample / run.per for sample in samples]}
    if run.add_remove:
        found |= measure_add_remove(wired, rig.spares, hits, settings, what)
    _sampling.check_fire(wired.fire, hits, rig.expected, f"{what}, after timing")
    return found


def measure_add_remove(
    wired: Wired, spares: Sequence[tuple[object, Any]], hits: Hits, settings: Settings, what: str
) -> dict[str, Any]:
    """
    The (c) rows: ns per add and per remove; other APIs of the same registry on the side.
    """
    if wired.add is None or wired.remove is None or wired.probe is None or not spares:
        missing = {"status": "n/a", "reason": "no add/remove adapter"}
        return {"C.add": missing, "C.remove": missing}
    pairs = {"": (wired.add, wired.remove), **wired.twins}
    measured: dict[str, tuple[list[float], list[float]]] = {}
    for label, (add, remove) in pairs.items():
        check_add_remove(wired, add, remove, spares[0], hits, f"{what} {label}".strip())
        measured[label] = _sampling.time_add_remove(
            add, remove, spares, sample_s=settings.sample_s, samples=settings.samples
        )
    adds, removes = measured.pop("")
    twins = {
        label: {"add": twin_adds, "remove": twin_removes}
        for label, (twin_adds, twin_removes) in measured.items()
    }
    return {"C.add": {"samples": adds, "twins": twins}, "C.remove": {"samples": removes}}


def check_add_remove(
    wired: Wired, add: Any, remove: Any, spare: tuple[object, Any], hits: Hits, what: str
) -> None:
    """
    Check that an added spare gets its event, and that once removed it does not.
    """
    key = spare[0]

    def probe() -> object:
        return wired.probe(key)  # type: ignore[misc]

    _sampling.check_fire(probe, hits, 0, f"{what}: before adding")
    token = add(spare)
    _sampling.check_fire(probe, hits, 1, f"{what}: once added")
    remove(token)
    _sampling.check_fire(probe, hits, 0, f"{what}: once removed")
