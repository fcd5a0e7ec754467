"""
The command line: runs each contender in a subprocess of its own (driven by
`_drive`), then prints the table and the targets and writes the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import _machine, _report
from ._drive import Bundle
from ._plan import FULL, GROUPS, QUICK, Settings, rows
from .contenders import NAMES, load

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Measure twisted_event_dispatcher beside its peer libraries.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, short samples")
    parser.add_argument("--contenders", help=f"comma-separated, from: {','.join(NAMES)}")
    parser.add_argument("--only", help=f"comma-separated scenario groups, from: {','.join(GROUPS)}")
    parser.add_argument("--samples", type=int, help="timing samples per cell and round")
    parser.add_argument("--sample-ms", type=float, help="length of one timing sample, in ms")
    parser.add_argument(
        "--rounds", type=int, help="run every contender this many times, pooled (default: 2; quick: 1)"
    )
    parser.add_argument("--pin", type=int, metavar="CPU", help="pin workers to the CPU of this index")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one worker may take")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON and tables are written")
    parser.add_argument("--list", action="store_true", help="list the contenders and exit")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="print a saved run again, rewriting latest-*.md and .rst"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    settings = QUICK if args.quick else FULL
    if args.samples is not None:
        settings = replace(settings, samples=max(1, args.samples))
    if args.sample_ms is not None:
        settings = replace(settings, sample_s=args.sample_ms / 1000)
    if args.only:
        groups = tuple(_split(args.only, GROUPS, "scenario group"))
        settings = replace(settings, groups=groups)
    return settings


def _split(text: str, known: tuple[str, ...], what: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def work(args: argparse.Namespace) -> int:
    """
    Worker mode: answer the runner's commands for one contender (see `_worker.serve`).

    Replies go to the real standard output; anything a library prints goes to
    standard error instead, so that it cannot garble them.
    """
    from ._worker import pin_to_cpu, serve

    if args.pin is not None:
        pin_to_cpu(args.pin)
    replies = sys.stdout
    sys.stdout = sys.stderr
    serve(args.worker, Settings.from_json(json.loads(args.settings)), sys.stdin, replies)
    return 0


def list_contenders() -> int:
    for name in NAMES:
        contender = load(name)
        reason = contender.unavailable()
        status = "available" if reason is None else f"unavailable: {reason}"
        print(f"{name:<18} {contender.title.strip('*'):<30} {status}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        return work(args)
    if args.list:
        return list_contenders()
    if args.render:
        return render(args)
    settings = settings_from(args)
    names = _split(args.contenders, NAMES, "contender") if args.contenders else list(NAMES)
    rounds = args.rounds or (1 if args.quick else 2)
    machine = _machine.describe()
    started = time.monotonic()
    reports = []
    for round_number in range(1, rounds + 1):
        chosen = settings if round_number == 1 else later_round(settings)
        print(f"[round {round_number}/{rounds}, {time.monotonic() - started:4.0f} s]", file=sys.stderr)
        reports += Bundle(names, chosen, args).measure()
    machine["load_average_end"] = _machine.load_average()
    machine["seconds"] = round(time.monotonic() - started, 1)
    return publish(reports, names, settings, machine, args, rounds)


def render(args: argparse.Namespace) -> int:
    """
    Print the table, notes and targets of a saved run, as when it was measured.
    """
    data = json.loads(args.render.read_text(encoding="utf-8"))
    reports = data["reports"]
    names = list(dict.fromkeys(report["name"] for report in reports))
    rounds = data.get("rounds") or len(reports) // max(1, len(names))
    args.quick = data["mode"] == "quick"
    settings = Settings.from_json(data["settings"])
    return publish(reports, names, settings, data["machine"], args, rounds, keep=False)


def later_round(settings: Settings) -> Settings:
    """
    The settings of rounds after the first: memory is not measured again (it
    does not vary), which saves the slow traced registrations.
    """
    return replace(settings, groups=tuple(group for group in settings.groups if group not in ("S5", "d")))


def publish(
    reports: list[dict[str, Any]],
    names: list[str],
    settings: Settings,
    machine: dict[str, Any],
    args: argparse.Namespace,
    rounds: int,
    *,
    keep: bool = True,
) -> int:
    """
    Print the table, notes and targets; write them and the JSON to the results folder.
    """
    merged = _report.pool(reports)
    cells = _report.summaries(merged, settings)
    selected = [row for row in rows(settings) if row.group in settings.groups]
    titles = [merged[name]["title"] for name in names]
    checks = _report.targets(cells, settings)
    mode = "quick" if args.quick else "full"
    heading = [
        f"Benchmarks ({mode} run, {settings.samples} samples of {settings.sample_s * 1000:g} ms per cell "
        f"and round, {rounds} round(s), {machine['seconds']} s)",
        "",
        f"Machine: {_machine.one_line(machine)}",
    ]
    notes = _report.notes(merged, cells, names, {row.id: row.group for row in selected if not row.derived})
    twins = _report.twin_lines(cells, {name: report["title"] for name, report in merged.items()})
    if twins:
        notes += ["", "Other add/remove APIs at the same size:", "", *twins]
    targets_title = "Targets of issue 3" + (" (quick runs are indicative only)" if args.quick else "")
    target_lines = _report.target_lines(checks)
    text = "\n".join(
        [
            *heading,
            "",
            _report.markdown(selected, names, titles, cells),
            "",
            _report.legend(),
            "",
            "Notes:",
            *notes,
            "",
            f"{targets_title}:",
            *target_lines,
        ]
    )
    print(text)
    rst = "\n".join(
        [
            *map(_escaped, heading),
            "",
            _report.rst(selected, names, titles, cells),
            "",
            _escaped(_report.legend()),
            "",
            "Notes:",
            "",
            *map(_escaped, notes),
            "",
            f"{targets_title}::",
            "",
            *(f"   {line}" for line in target_lines),
        ]
    )
    record = {"mode": mode, "rounds": rounds, "machine": machine, "settings": settings.to_json()}
    record |= {"targets": checks, "summaries": cells, "reports": reports}
    _write(args.results, mode, text, rst, record if keep else None)
    return 1 if any("failed" in report for report in reports) or _errors(cells) else 0


def _escaped(line: str) -> str:
    """
    A line of text as reST shows it verbatim (a leading list dash kept).
    """
    escaped = re.sub(r"([\\*`|_])", r"\\\1", line)
    return escaped


def _errors(cells: dict[str, Any]) -> bool:
    return any(cell["status"] == "error" for by_row in cells.values() for cell in by_row.values())


def _write(folder: Path, mode: str, text: str, rst: str, record: dict[str, Any] | None) -> None:
    """
    Write the text and the reST fragment, and the JSON record unless None.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"latest-{mode}.md").write_text(text + "\n", encoding="utf-8")
    (folder / f"latest-{mode}.rst").write_text(rst + "\n", encoding="utf-8")
    if record is None:
        print(f"\nWritten: {folder}/latest-{mode}.md and .rst", file=sys.stderr)
        return
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    for name in (f"{mode}-{stamp}.json", f"latest-{mode}.json"):
        (folder / name).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"\nWritten: {folder / f'{mode}-{stamp}.json'} (and latest-{mode}.json/.md/.rst)", file=sys.stderr)
