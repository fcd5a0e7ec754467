#!/usr/bin/env python3
"""
Count the machine instructions one fire costs, per contender, under valgrind.

    python benchmarks/instructions.py
    python benchmarks/instructions.py --contenders this_project,pyee --cells S1

On a shared virtual machine the wall-clock figures of run.py move by up to
2x from one minute to the next; the number of instructions a fire executes
does not move at all (the hash seed is fixed, and the heap that exists
before the fires is frozen out of the garbage collector's way).  It is not
a time: memory stalls and branch misses are not in it.  But between
libraries doing the same work on the same interpreter, its ratios are a
steady second opinion on the timed ratios.

Each cell runs a contender's workload twice under ``valgrind
--tool=callgrind``, with few fires and with many; the difference divided by
the extra fires is the cost of one fire, free of start-up.  valgrind is a
Debian package (``apt-get install valgrind``); without it this says so and
exits 2.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.contenders import NAMES, load  # noqa: E402  (the path is set up above)
from benchmarks.contenders._kit import NotApplicable, Rig  # noqa: E402

DEFAULT_CONTENDERS = ("floor", "this_project", "pyee", "pluggy", "blinker", "deferred_list")
FAN = 100


@dataclass(frozen=True)
class Cell:
    """
    One row: ``workload`` with ``n`` handlers, instructions per fire divided
    by ``per``; ``minus``, a cell whose per-fire count is taken off first.
    """

    label: str
    workload: str
    n: int
    per: int = 1
    minus: str | None = None
    fires: tuple[int, int] = (500, 3_000)


CELLS = {
    "S1": Cell("S1 fire to 1 handler (instructions/fire)", "fanout", 1),
    "S2": Cell(
        f"S2 per extra handler, (I{FAN} - I1)/{FAN - 1} (instructions/handler)",
        "fanout",
        FAN,
        per=FAN - 1,
        minus="S1",
        fires=(20, 120),
    ),
    "S4": Cell(
        f"S4 per handler returning a fired Deferred, {FAN} handlers (instructions/handler)",
        "deferred_fanout",
        FAN,
        per=FAN,
        fires=(20, 120),
    ),
    "a": Cell("(a) fire through 3 phases, 1 handler in each (instructions/fire)", "phased", 3),
    "b": Cell(
        "(b) fire to 10 handlers whose Deferreds fire after it, by a stand-in reactor (instructions/fire)",
        "reactor_fanout",
        10,
        fires=(100, 600),
    ),
}


class Turn:
    """
    A stand-in for the reactor of scenario (b): ``callLater`` queues the
    call, and ``run`` makes it, as the reactor's next turn would.  It costs
    every contender the same.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Callable[..., object], tuple[object, ...]]] = []

    def callLater(self, delay: float, call: Callable[..., object], *args: object) -> None:
        self.calls.append((call, args))

    def run(self) -> None:
        calls, self.calls = self.calls, []
        for call, args in calls:
            call(*args)


def rig_of(name: str, workload: str, n: int, hits: list[int]) -> tuple[Rig, Turn | None]:
    """
    The contender's rig for ``workload``, and the stand-in reactor that
    completes each of its fires, if it needs one.
    """
    method = getattr(load(name), workload)
    if workload == "phased":
        return method(hits), None
    if workload != "reactor_fanout":
        return method(n, hits), None
    turn = Turn()
    return method(n, hits, turn), turn


def one_fire(fire: Callable[[], object], turn: Turn | None) -> Callable[[], object]:
    """
    What makes one whole fire: ``fire`` itself, or ``fire`` then the reactor's turn.
    """
    if turn is None:
        return fire

    def fire_and_turn() -> None:
        fire()
        turn.run()

    return fire_and_turn


#: Modules each measured process imports before it sets up (``--preload``):
#: what merely importing them costs a fire.
PRELOAD: list[str] = []


def inner(name: str, workload: str, n: int, fires: int) -> None:
    """
    In the process valgrind watches: register, check, then fire ``fires`` times.
    """
    for module in PRELOAD:
        importlib.import_module(module)
    hits = [0, 0]
    rig, turn = rig_of(name, workload, n, hits)
    fire = one_fire(rig.build().fire, turn)
    for _ in range(10):
        fire()
    if hits[0] != 10 * rig.expected:
        raise SystemExit(f"{name} {workload}: {hits[0]} handler calls for 10 fires, not {10 * rig.expected}")
    gc.collect()
    gc.freeze()
    for _ in range(fires):
        fire()


def collected(name: str, cell: Cell, fires: int) -> int:
    """
    The instructions a whole run of ``fires`` fires takes, start-up included.
    """
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--inner",
        name,
        cell.workload,
        str(cell.n),
        str(fires),
        *(["--preload", ",".join(PRELOAD)] if PRELOAD else []),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if done.returncode or found is None:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output")
    return int(found.group(1))


def per_fire(name: str, cell: Cell) -> float | str:
    """
    Instructions of one fire of ``cell``'s workload (not yet divided by ``per``),
    or why there is no figure.
    """
    if load(name).unavailable() is not None:
        return "n/a"
    try:
        rig_of(name, cell.workload, cell.n, [0, 0])
    except NotApplicable:
        return "n/a"
    few, many = cell.fires
    try:
        return (collected(name, cell, many) - collected(name, cell, few)) / (many - few)
    except RuntimeError as error:
        return f"error: {error}"


def measure(names: list[str], cells: list[str]) -> dict[tuple[str, str], float | str]:
    """
    Every (contender, cell) figure, two valgrind runs at a time per CPU.
    """
    needed = {(name, cell) for name in names for cell in cells}
    needed |= {(name, CELLS[cell].minus) for name, cell in needed if CELLS[cell].minus}  # type: ignore[misc]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {key: pool.submit(per_fire, key[0], CELLS[key[1]]) for key in sorted(needed)}
    raw = {key: future.result() for key, future in futures.items()}
    return {(name, cell): finish(raw, name, cell) for name in names for cell in cells}


def finish(raw: dict[tuple[str, str], float | str], name: str, cell: str) -> float | str:
    value, spec = raw[(name, cell)], CELLS[cell]
    if isinstance(value, str):
        return value
    if spec.minus is not None:
        base = raw[(name, spec.minus)]
        if isinstance(base, str):
            return base
        value -= base
    return value / spec.per


def table(names: list[str], cells: list[str], figures: dict[tuple[str, str], float | str]) -> str:
    header = "| cell | " + " | ".join(names) + " |"
    lines = [header, "|---|" + "---:|" * len(names)]
    for cell in cells:
        values = [figures[(name, cell)] for name in names]
        shown = [f"{value:,.0f}" if isinstance(value, float) else value for value in values]
        lines.append(f"| {CELLS[cell].label} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def ratios(names: list[str], cells: list[str], figures: dict[tuple[str, str], float | str]) -> list[str]:
    """
    This project's count over each peer's, per cell.
    """
    found = []
    for cell in cells:
        ours = figures.get(("this_project", cell))
        for name in names:
            theirs = figures[(name, cell)]
            if name in ("this_project", "floor") or not isinstance(ours, float):
                continue
            if isinstance(theirs, float) and theirs > 0:
                found.append(f"{cell}: this project / {name} = {ours / theirs:.2f}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contenders", default=",".join(DEFAULT_CONTENDERS))
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument(
        "--inner", nargs=4, metavar=("CONTENDER", "WORKLOAD", "N", "FIRES"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--preload",
        default="",
        help="modules to import in every measured process before its set-up (comma-separated)",
    )
    args = parser.parse_args(argv)
    PRELOAD[:] = [module for module in args.preload.split(",") if module]
    if args.inner:
        name, workload, n, fires = args.inner
        inner(name, workload, int(n), int(fires))
        return 0
    names = [name for name in args.contenders.split(",") if name]
    cells = [cell for cell in args.cells.split(",") if cell]
    unknown = [name for name in names if name not in NAMES] + [cell for cell in cells if cell not in CELLS]
    if unknown:
        known = f"contenders: {', '.join(NAMES)}; cells: {', '.join(CELLS)}"
        parser.error(f"unknown contender or cell: {', '.join(unknown)}; {known}")
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    figures = measure(names, cells)
    python = sys.version.split()[0]
    print(f"Instructions per fire under callgrind, Python {python}; fixed hash seed, frozen heap.")
    print(f"Modules imported first: {', '.join(PRELOAD) or 'none'}.\n")
    print(table(names, cells, figures))
    print()
    print("\n".join(ratios(names, cells, figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
