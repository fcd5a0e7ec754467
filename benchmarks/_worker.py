"""
The worker: measures one contender, in a process of its own.

A run is measured in steps by a `Session`: ``start`` registers the handlers and
checks a fire, each ``sample`` times one sample, ``finish`` measures the rest and
checks again.  In serve mode (`serve`) the runner drives the steps of all
contenders in turn, so that the samples a row compares are taken side by side.
"""

from __future__ import annotations

import gc
import json
import os
import time
import traceback
from collections.abc import Callable, Sequence
from typing import IO, Any, TypeVar

from . import _sampling, _throughput
from ._plan import Run, Settings, runs
from .contenders import load
from .contenders._kit import Contender, Hits, NotApplicable, Rig, Wired

T = TypeVar("T")


def pin_to_cpu(index: int) -> int | None:
    """
    Keep this process on one CPU (the ``index``-th it may use); return it, or None.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[index % len(allowed)]
    os.sched_setaffinity(0, {cpu})
    return cpu


def introduce(contender: Contender) -> dict[str, Any]:
    """
    What the report says about a contender before any cell: names, versions,
    or why it cannot run here.
    """
    report: dict[str, Any] = {"name": contender.name, "title": contender.title, "about": contender.about}
    reason = contender.unavailable()
    if reason is not None:
        report["unavailable"] = reason
    else:
        report["versions"] = contender.versions()
    return report


def measure_contender(name: str, settings: Settings) -> dict[str, Any]:
    """
    Every selected row for the contender ``name``, one run after the other.
    """
    contender = load(name)
    report = introduce(contender)
    if "unavailable" not in report:
        report["cells"] = {}
        for run in runs(settings):
            report["cells"].update(measure_run(contender, run, settings))
    return report


def measure_run(contender: Contender, run: Run, settings: Settings) -> dict[str, Any]:
    """
    The cells of one run: measured, not applicable, or an error.
    """
    session = Session(contender, run, settings)
    for _ in range(session.start()):
        session.sample()
    return session.finish()


def serve(name: str, settings: Settings, commands: IO[str], replies: IO[str]) -> None:
    """
    Answer the runner's commands, one JSON line each: ``start`` a run (by its
    index in the plan), take a ``sample``, ``finish`` it, ``quit``.
    """
    contender = load(name)
    report = introduce(contender)
    _reply(replies, report)
    if "unavailable" in report:
        return
    plan = runs(settings)
    session = None
    for line in commands:
        command = json.loads(line)
        if command["do"] == "start":
            session = Session(contender, plan[command["run"]], settings)
            _reply(replies, {"samples": session.start()})
        elif command["do"] == "sample" and session is not None:
            session.sample()
            _reply(replies, {})
        elif command["do"] == "finish" and session is not None:
            _reply(replies, {"cells": session.finish()})
            session = None
        else:
            return


def _reply(replies: IO[str], message: dict[str, Any]) -> None:
    replies.write(json.dumps(message) + "\n")
    replies.flush()


class Session:
    """
    One run of one contender, measured in steps.

    Whatever goes wrong in a step turns the run's cells into errors; later
    steps then do nothing.  The library's structures are freed before the
    handlers: a library holding handlers weakly would otherwise clean up after
    each dying handler, at O(n) each for blinker (minutes at 100k).
    """

    def __init__(self, contender: Contender, run: Run, settings: Settings) -> None:
        self.contender = contender
        self.run = run
        self.settings = settings
        self.n = run.n
        self.capped = False
        self.cells: dict[str, Any] = {}
        self.found: dict[str, Any] = {}
        self.samples: list[float] = []
        self.hits: Hits = [0, 0]
        self.rig: Rig | None = None
        self.wired: Wired | None = None
        self.loops = 0
        self.done = False
        self.started = time.monotonic()

    @property
    def what(self) -> str:
        return f"{self.contender.name} {self.run.workload}({self.n:,})"

    def start(self) -> int:
        """
        Register the handlers and check a fire; return how many samples to take.
        """
        if not self._within_cap():
            return 0
        try:
            self.rig = prepare(self.contender, self.run, self.n, self.hits, self.settings)
        except NotApplicable as reason:
            self._give_up("n/a", str(reason))
            return 0
        return self._guarded(self._build, 0)

    def sample(self) -> None:
        """
        Time one sample of fires.
        """
        self._guarded(self._sample, None)

    def finish(self) -> dict[str, Any]:
        """
        Measure what is not sampled in turn, check again, free everything, and
        return the run's cells.
        """
        if self.wired is not None:
            self._guarded(self._complete, None)
        self._release()
        return self.cells

    def _within_cap(self) -> bool:
        most, why = self.contender.cap(self.run.workload)
        if most is None or self.n <= most:
            return True
        if self.run.timed is not None:
            self.cells[self.run.timed] = {"status": "n/a", "reason": f"not at {self.n:,}: {why}"}
        self.done = self.run.memory is None and not self.run.add_remove
        self.capped, self.n = True, most
        self.run = Run(self.run.workload, most, memory=self.run.memory, add_remove=self.run.add_remove)
        return not self.done

    def _build(self) -> int:
        rig, run = self.rig, self.run
        assert rig is not None
        if run.memory is not None:
            self.wired, kept, peak = _sampling.traced_build(rig.build)
            self.found[run.memory] = {"samples": [kept / self.n], "peak_per_handler": peak / self.n}
        else:
            self.wired = rig.build()
        if run.reactor or run.timed is None:
            return 0
        _sampling.check_fire(self.wired.fire, self.hits, rig.expected, self.what)
        self.loops = _sampling.calibrate(self.wired.fire, self.settings.sample_s)
        return self.settings.samples

    def _sample(self) -> None:
        assert self.wired is not None
        gc.collect()
        elapsed = _sampling.loop_ns(self.wired.fire, self.loops)
        self.samples.append(elapsed / self.loops / self.run.per)

    def _complete(self) -> None:
        rig, run, wired = self.rig, self.run, self.wired
        assert rig is not None
        assert wired is not None
        if run.reactor and run.timed is not None:
            rates = _throughput.measure(
                wired.fire,
                events=self.settings.reactor_events,
                per_event=self.n,
                hits=self.hits,
                samples=self.settings.samples,
            )
            self.found[run.timed] = {"samples": rates}
        else:
            if run.timed is not None:
                self.found[run.timed] = {"samples": self.samples}
            if run.add_remove:
                self.found |= measure_add_remove(wired, rig.spares, self.hits, self.settings, self.what)
            _sampling.check_fire(wired.fire, self.hits, rig.expected, f"{self.what}, after timing")
        meta = {"mode": rig.mode, "waits": rig.waits, "note": rig.note, "n": self.n, "capped": self.capped}
        meta["run_seconds"] = round(time.monotonic() - self.started, 2)
        self.cells |= {row: {"status": "ok", **meta, **found} for row, found in self.found.items()}

    def _guarded(self, step: Callable[[], T], default: T) -> T:
        if self.done:
            return default
        try:
            return step()
        except Exception as error:
            self._give_up("error", "".join(traceback.format_exception_only(error)).strip())
            return default

    def _give_up(self, status: str, reason: str) -> None:
        self.done = True
        self.cells |= {row: {"status": status, "reason": reason} for row in self.run.row_ids()}

    def _release(self) -> None:
        handlers = None if self.wired is None else self.wired.keep
        self.wired = None
        gc.collect()
        if self.rig is not None and self.rig.teardown is not None:
            self.rig.teardown()
        self.rig = None
        del handlers


def prepare(contender: Contender, run: Run, n: int, hits: Hits, settings: Settings) -> Rig:
    """
    The contender's rig for ``run``, with ``n`` handlers.
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
