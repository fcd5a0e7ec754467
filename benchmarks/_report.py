"""
From raw samples to what a reader sees: pooled summaries, derived rows, the
table (Markdown, or reST for the docs), and the check of issue 3's targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeGuard

from ._plan import Row, Settings, short
from ._sampling import summarize

OURS = "this_project"
EMULATED_MARK = "†"
NO_WAIT_MARK = "‡"

Cells = dict[str, dict[str, Any]]


def pool(reports: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """
    Merge the workers' reports of several rounds: samples of a cell are pooled.
    """
    merged: dict[str, dict[str, Any]] = {}
    for report in reports:
        name = report["name"]
        into = merged.setdefault(name, {key: value for key, value in report.items() if key != "cells"})
        into.setdefault("cells", {})
        for row, cell in report.get("cells", {}).items():
            _pool_cell(into["cells"], row, cell)
    return merged


def _pool_cell(cells: Cells, row: str, cell: dict[str, Any]) -> None:
    known = cells.get(row)
    if known is None:
        cells[row] = dict(cell)
    elif known["status"] == "ok" and cell["status"] == "ok":
        known["samples"] = [*known["samples"], *cell["samples"]]
    elif known["status"] == "ok":
        cells[row] = dict(cell)  # a round that failed shows, whatever the others did


def summaries(merged: dict[str, dict[str, Any]], settings: Settings) -> dict[str, Cells]:
    """
    Contender -> row -> cell, with a ``summary`` on each measured cell and the derived rows added.
    """
    found: dict[str, Cells] = {}
    for name, report in merged.items():
        cells = {row: dict(cell) for row, cell in report.get("cells", {}).items()}
        for cell in cells.values():
            if cell["status"] == "ok":
                cell["summary"] = summarize(cell["samples"])
        _derive(cells, settings)
        found[name] = cells
    return found


def _derive(cells: Cells, settings: Settings) -> None:
    one, many = cells.get("S1"), cells.get("S2")
    if _ok(one) and _ok(many):
        base = one["summary"]["median"]
        fan = settings.fan
        extra = [(sample * fan - base) / (fan - 1) for sample in many["samples"]]
        cells["S2.extra"] = {"status": "ok", **_meta(many), "summary": summarize(extra)}
    for group in ("S3", "S3b"):
        small, large = cells.get(f"{group}.small"), cells.get(f"{group}.large")
        if _ok(small) and _ok(large):
            ratio = {stat: large["summary"][stat] / small["summary"][stat] for stat in ("median", "min")}
            cells[f"{group}.ratio"] = {"status": "ok", **_meta(large), "summary": ratio}


def _ok(cell: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return cell is not None and cell["status"] == "ok"


def _meta(cell: dict[str, Any]) -> dict[str, Any]:
    return {key: cell[key] for key in ("mode", "waits", "note", "n", "capped") if key in cell}


# The table


def _number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.0f}"


def cell_text(cell: dict[str, Any] | None, row: Row) -> str:
    """
    One cell: median (min-max), with its marks; or why it is empty.
    """
    if cell is None:
        return "n/a"
    if cell["status"] != "ok":
        return "n/a" if cell["status"] == "n/a" else "error"
    summary = cell["summary"]
    text = _number(summary["median"], row.unit)
    if summary.get("count", 1) > 1:
        text += f" ({_number(summary['min'], row.unit)}-{_number(summary['max'], row.unit)})"
    marks = EMULATED_MARK if cell.get("mode") == "emulated" else ""
    marks += "" if cell.get("waits", True) else NO_WAIT_MARK
    at = f"@{short(cell['n'])}" if cell.get("capped") else ""
    return " ".join(part for part in (text, marks, at) if part)


def table_rows(rows: Sequence[Row], names: Sequence[str], cells: dict[str, Cells]) -> list[list[str]]:
    """
    The body of the table: one list of strings per row, the label first.
    """
    return [
        [f"{row.label} ({row.unit})"] + [cell_text(cells[name].get(row.id), row) for name in names]
        for row in rows
    ]


def markdown(
    rows: Sequence[Row], names: Sequence[str], titles: Sequence[str], cells: dict[str, Cells]
) -> str:
    lines = ["| scenario | " + " | ".join(titles) + " |", "|---|" + "---:|" * len(titles)]
    lines += ["| " + " | ".join(body) + " |" for body in table_rows(rows, names, cells)]
    return "\n".join(lines)


def rst(rows: Sequence[Row], names: Sequence[str], titles: Sequence[str], cells: dict[str, Cells]) -> str:
    """
    The table as a reST list-table, for the docs page.
    """
    lines = [".. list-table::", "   :header-rows: 1", "   :stub-columns: 1", ""]
    for body in [["scenario", *(title.strip("*") for title in titles)], *table_rows(rows, names, cells)]:
        lines.append(f"   * - {body[0]}")
        lines += [f"     - {text}" for text in body[1:]]
    return "\n".join(lines)


def legend() -> str:
    return (
        f"Each cell: median (min-max) of the samples. {EMULATED_MARK} emulated: the library has no such "
        f"mechanism (filtering, phases), so every handler is called and checks the key, or one call per "
        f"phase is made. {NO_WAIT_MARK} the fire does not wait for the handlers' Deferreds. "
        "@N: measured at N handlers, the most the library registers in reasonable time. "
        "n/a: the library cannot express the scenario (see the notes)."
    )


def notes(
    merged: dict[str, dict[str, Any]], cells: dict[str, Cells], names: Sequence[str], groups: dict[str, str]
) -> list[str]:
    """
    Per contender: versions, how it is driven, and the notes and reasons
    behind its cells, each followed by the scenario groups it concerns.
    """
    found = []
    for name in names:
        report = merged[name]
        title = report["title"].strip("*")
        if "unavailable" in report or "failed" in report:
            found.append(f"- {title}: not run: {report.get('unavailable') or report.get('failed')}")
            continue
        said: dict[str, list[str]] = {}
        for row, cell in cells[name].items():
            text = cell.get("note") or ""
            if cell["status"] != "ok":
                text = f"{cell['status']}: {cell['reason']}"
            if text and row in groups and groups[row] not in said.get(text, []):
                said.setdefault(text, []).append(groups[row])
        versions = f" ({report['versions']})" if report.get("versions") else ""
        details = "; ".join(f"{text} ({', '.join(where)})" for text, where in said.items())
        found.append(f"- {title}{versions}: {report['about']}. {details}")
    return found


def twin_lines(cells: dict[str, Cells], titles: dict[str, str]) -> list[str]:
    """
    The other add/remove APIs measured beside the (c) rows.
    """
    lines = []
    for name, by_row in cells.items():
        cell = by_row.get("C.add")
        if not _ok(cell):
            continue
        for label, twin in cell.get("twins", {}).items():
            add, remove = (summarize(twin[what])["median"] for what in ("add", "remove"))
            lines.append(f"- {titles[name].strip('*')}, {label}: add {add:,.0f} ns, remove {remove:,.0f} ns")
    return lines


# Targets


def _stat(cells: dict[str, Cells], name: str, row: str, stat: str) -> float | None:
    cell = cells.get(name, {}).get(row)
    if not _ok(cell):
        return None
    value: float | None = cell["summary"].get(stat)
    return value


#: A target's limit: a number, or a fraction of a peer's value in the same row.
Limit = float | tuple[str, float]


def _limit_value(cells: dict[str, Cells], limit: Limit, row: str, stat: str) -> float | None:
    if not isinstance(limit, tuple):
        return limit
    peer, fraction = limit
    value = _stat(cells, peer, row, stat)
    return None if value is None else value * fraction


def target_specs(settings: Settings) -> list[tuple[str, str, Limit, str, bool]]:
    """
    Issue 3's targets: label, row, limit, unit, and whether the limit is strict.
    """
    big = short(settings.big)
    return [
        ("S1 at most 1,200 ns", "S1", 1200, "ns", False),
        *(
            (f"S1 faster than {peer}", "S1", (peer, 1.0), "ns", True)
            for peer in ("pyee", "pluggy", "blinker")
        ),
        ("S2 per extra handler at most 250 ns", "S2.extra", 250, "ns", False),
        (f"S3 at {big} within 1.3x of n=10", "S3.ratio", 1.3, "x", False),
        (f"S3b at {big} within 1.3x of n=10", "S3b.ratio", 1.3, "x", False),
        ("S4 per handler at most half of pyee's", "S4", ("pyee", 0.5), "ns", False),
        ("S5 at most 400 B per handler", "S5", 400, "B", False),
        (f"add at {big} registered under 5 us", "C.add", 5000, "ns", True),
        (f"remove at {big} registered under 5 us", "C.remove", 5000, "ns", True),
    ]


def targets(cells: dict[str, Cells], settings: Settings) -> list[dict[str, Any]]:
    """
    Each target with the measured median, its limit, the ratio and the verdict;
    the ratio of the minimums is given beside it, as a hint of what noise did.
    """
    checks = []
    for label, row, limit, unit, strict in target_specs(settings):
        value, bound = _stat(cells, OURS, row, "median"), _limit_value(cells, limit, row, "median")
        check = _verdict(label, value, bound, unit, strict)
        low, low_bound = _stat(cells, OURS, row, "min"), _limit_value(cells, limit, row, "min")
        check["ratio_of_minimums"] = low / low_bound if low is not None and low_bound else None
        checks.append(check)
    return checks


def _verdict(label: str, value: float | None, limit: float | None, unit: str, strict: bool) -> dict[str, Any]:
    if value is None or limit is None or limit <= 0:
        return {"target": label, "value": value, "limit": limit, "ratio": None, "verdict": "n/a"}
    ratio = value / limit
    passed = ratio < 1 if strict else ratio <= 1
    return {
        "target": label,
        "value": value,
        "limit": limit,
        "unit": unit,
        "ratio": ratio,
        "verdict": "PASS" if passed else "MISS",
    }


def target_lines(checks: Sequence[dict[str, Any]]) -> list[str]:
    """
    One line per target: verdict, measured value, limit, ratio.
    """
    lines = []
    for check in checks:
        if check["verdict"] == "n/a":
            lines.append(f"n/a   {check['target']}: not measured")
            continue
        lines.append(
            f"{check['verdict']:<5} {check['target']}: {_shown(check['value'], check['unit'])} vs "
            f"{_shown(check['limit'], check['unit'])} (ratio {check['ratio']:.2f}{_of_minimums(check)})"
        )
    return lines


def _shown(value: float, unit: str) -> str:
    return f"{value:.2f}x" if unit == "x" else f"{value:,.0f} {unit}"


def _of_minimums(check: dict[str, Any]) -> str:
    low = check.get("ratio_of_minimums")
    return "" if low is None else f"; of the minimums: {low:.2f}"
