"""
Smoke tests of the benchmark suite (benchmarks/), so that it cannot rot.

They run this project's adapters at tiny sizes and check that each fire
reaches exactly the handlers it should.  They assert nothing about speed:
speed is shown by ``python benchmarks/run.py``, never by the test suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from twisted.internet.task import Clock

ROOT = Path(__file__).resolve().parent.parent
QUIET = {"capture_output": True, "text": True, "timeout": 120, "check": False}


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))


@pytest.fixture
def this_project():
    from benchmarks.contenders import load

    return load("this_project")


@pytest.fixture
def tiny():
    from benchmarks._plan import QUICK

    return replace(QUICK, keyed_sizes=(2, 3, 5), fan=3, spares=4, sample_s=0.0002, samples=2)


def calls_of(fire, hits):
    """
    How many handlers one fire called.
    """
    before = hits[0]
    fire()
    return hits[0] - before


@pytest.mark.parametrize("n", [1, 3])
def test_fanout_reaches_every_handler(this_project, n):
    """
    A fan-out fire calls each of its n handlers once, every time.
    """
    hits = [0, 0]
    wired = this_project.fanout(n, hits).build()
    assert [calls_of(wired.fire, hits) for _ in range(3)] == [n, n, n]


def test_keyed_fire_reaches_only_its_key(this_project):
    """
    Among handlers for distinct keys, a fire for one key calls one handler, and a
    probe for an unknown key calls none.
    """
    hits = [0, 0]
    keys = ["user-0", "user-1", "user-2"]
    wired = this_project.keyed(keys, "user-1", [], hits).build()
    assert calls_of(wired.fire, hits) == 1
    assert calls_of(lambda: wired.probe("user-1"), hits) == 1
    assert calls_of(lambda: wired.probe("nobody"), hits) == 0


def test_add_and_remove_change_what_a_probe_reaches(this_project):
    """
    Both add/remove pairs (the Deferred API and its synchronous twin) really
    add and remove a handler.
    """
    from benchmarks._worker import check_add_remove

    hits = [0, 0]
    rig = this_project.keyed(["user-0", "user-1"], "user-0", ["spare-0", "spare-1"], hits)
    wired = rig.build()
    pairs = [(wired.add, wired.remove), *wired.twins.values()]
    assert len(pairs) == 2
    for add, remove in pairs:
        check_add_remove(wired, add, remove, rig.spares[0], hits, "smoke")
    assert calls_of(lambda: wired.probe("spare-0"), hits) == 0


def test_two_keyword_fire_matches_on_the_constrained_keyword(this_project):
    """
    Events carry kind and user; handlers constrain user: one fire, one call.
    """
    hits = [0, 0]
    wired = this_project.keyed_two(["user-0", "user-1", "user-2"], "user-2", hits).build()
    assert calls_of(wired.fire, hits) == 1


def test_deferred_fanout_fires_already_fired(this_project):
    """
    Handlers returning fired Deferreds: every handler is called and the fire's
    Deferred has already fired with a result listing them all.
    """
    hits = [0, 0]
    wired = this_project.deferred_fanout(4, hits).build()
    results = []
    wired.fire().addCallback(results.append)
    assert hits[0] == 4
    assert len(results[0]) == 4


def test_phased_fire_runs_one_handler_per_phase(this_project):
    """
    The three-phase workload calls three handlers, one in each phase.
    """
    hits = [0, 0]
    wired = this_project.phased(hits).build()
    results = []
    wired.fire().addCallback(results.append)
    assert hits[0] == 3
    assert set(results[0].phases) == {"before", "during", "after"}


def test_reactor_batch_waits_for_handlers_deferreds(this_project):
    """
    Scenario (b) on a Clock: the batch is done only once the reactor has fired
    every handler's Deferred.
    """
    from benchmarks._throughput import run_batch

    clock = Clock()
    hits = [0, 0]
    wired = this_project.reactor_fanout(2, hits, clock).build()
    done = []
    run_batch(wired.fire, 5, 2, hits, clock).addCallback(done.append)
    assert hits == [10, 0]
    assert done == []
    clock.advance(0)
    assert hits == [10, 10]
    assert done == [None]


def test_check_fire_catches_a_wrong_count():
    """
    The check that guards every timing refuses a fire that reaches too few handlers.
    """
    from benchmarks._sampling import Mismatch, check_fire

    hits = [0, 0]
    with pytest.raises(Mismatch, match="called 0 handlers, expected 1"):
        check_fire(lambda: None, hits, 1, "smoke")


def test_worker_and_report_in_process(tiny):
    """
    The worker measures every in-process row for this project and the floor at
    tiny sizes, and the report gives each a value and each target a verdict.
    """
    from benchmarks import _report
    from benchmarks._plan import rows
    from benchmarks._worker import measure_contender

    settings = replace(tiny, groups=tuple(group for group in tiny.groups if group != "b"))
    reports = [measure_contender(name, settings) for name in ("floor", "this_project")]
    cells = _report.summaries(_report.pool(reports), settings)
    ours = cells["this_project"]
    expected = {row.id for row in rows(settings) if row.group in settings.groups}
    assert {row: ours[row]["status"] for row in expected} == dict.fromkeys(expected, "ok")
    checks = _report.targets(cells, settings)
    assert {check["verdict"] for check in checks} <= {"PASS", "MISS", "n/a"}
    assert sum(check["verdict"] != "n/a" for check in checks) == 7


def test_quick_mode_end_to_end(tmp_path):
    """
    ``run.py --quick`` for two contenders runs its workers (the reactor row
    included) and writes JSON in which every row of this project was measured;
    ``--render`` prints the same table from that JSON.
    """
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--quick",
        "--contenders",
        "floor,this_project",
    ]
    command += ["--samples", "1", "--sample-ms", "0.2", "--results", str(tmp_path)]
    done = subprocess.run(command, **QUIET)
    assert done.returncode == 0, done.stderr
    assert "| S1 fire to 1 handler" in done.stdout
    data = json.loads((tmp_path / "latest-quick.json").read_text())
    ours = data["summaries"]["this_project"]
    assert {row: cell["status"] for row, cell in ours.items() if cell["status"] != "ok"} == {}
    assert "B" in ours
    assert data["machine"]["cpu_count"] >= 1
    saved = next(tmp_path.glob("quick-*.json"))
    again = subprocess.run([*command[:2], "--render", str(saved), "--results", str(tmp_path)], **QUIET)
    assert again.returncode == 0, again.stderr
    assert table_of(again.stdout) == table_of(done.stdout)
    assert len(table_of(done.stdout)) > 10


def table_of(output):
    """
    The lines of the Markdown table in the runner's output.
    """
    return [line for line in output.splitlines() if line.startswith("| ")]


# benchmarks/instructions.py: its parts that do not need valgrind.


@pytest.mark.parametrize("cell", ["S1", "S2", "S4", "a", "b"])
def test_instructions_inner_run_fires_and_checks(cell):
    """
    The process valgrind would watch registers, checks the handler calls
    and fires; it exits 0.
    """
    from benchmarks.instructions import CELLS

    spec = CELLS[cell]
    script = str(ROOT / "benchmarks" / "instructions.py")
    command = [sys.executable, script, "--inner", "this_project", spec.workload, str(spec.n), "3"]
    done = subprocess.run(command, **QUIET)
    assert done.returncode == 0, done.stderr


def test_instructions_figures_subtract_the_base_and_divide():
    from benchmarks.instructions import finish, ratios, table

    raw = {("this_project", "S1"): 1_000.0, ("this_project", "S2"): 100_000.0, ("pyee", "S1"): 2_000.0}
    raw[("pyee", "S2")] = "n/a"
    figures = {key: finish(raw, *key) for key in raw}
    assert figures[("this_project", "S2")] == (100_000 - 1_000) / 99
    assert figures[("pyee", "S2")] == "n/a"
    assert ratios(["this_project", "pyee"], ["S1", "S2"], figures) == ["S1: this project / pyee = 0.50"]
    assert "| S1 fire to 1 handler (instructions/fire) | 1,000 | 2,000 |" in table(
        ["this_project", "pyee"], ["S1"], figures
    )


def test_instructions_without_valgrind_says_so(monkeypatch, capsys):
    from benchmarks import instructions

    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert instructions.main(["--contenders", "this_project", "--cells", "S1"]) == 2
    assert "valgrind is not installed" in capsys.readouterr().err


def test_instructions_refuses_unknown_names(capsys):
    from benchmarks import instructions

    with pytest.raises(SystemExit) as exit_:
        instructions.main(["--contenders", "nobody"])
    assert exit_.value.code == 2
    assert "unknown contender or cell: nobody" in capsys.readouterr().err


def test_instructions_inner_run_imports_the_preloaded_modules():
    """
    --preload imports its modules in the measured process (an unknown one
    stops it), so that a run can show what importing them costs a fire.
    """
    script = str(ROOT / "benchmarks" / "instructions.py")
    inner = [sys.executable, script, "--inner", "this_project", "fanout", "1", "3", "--preload"]
    loaded = subprocess.run(
        [*inner, "twisted_event_dispatcher.metrics,twisted_event_dispatcher.tracing"], **QUIET
    )
    assert loaded.returncode == 0, loaded.stderr
    missing = subprocess.run([*inner, "no_such_module_here"], **QUIET)
    assert missing.returncode != 0 and "No module named 'no_such_module_here'" in missing.stderr


@pytest.mark.parametrize(
    "cell",
    [
        "metrics",
        "metrics10",
        "tracing",
        "tracing_sdk",
        "tracing_unsampled",
        "tracing_sdk10",
        "monitor_by_hand",
        "monitor10_by_hand",
        "metrics_by_hand",
        "tracing_by_hand",
        "tracing_sdk_by_hand",
        "tracing_unsampled_by_hand",
    ],
)
def test_core_inner_runs_the_observability_cells(cell):
    script = str(ROOT / "benchmarks" / "core.py")
    for side in ("target", "reference"):
        done = subprocess.run([sys.executable, script, "--inner", cell, side, "3"], **QUIET)
        assert done.returncode == 0, done.stderr
