"""
From raw samples to what a reader sees: pooled summaries, derived rows, the
table (Markdown, or reST for the docs), and the check of issue 3's targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

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
    Contender -> row -> cell, with a C{summary} on each measured cell and the derived rows added.
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
        base = one["summary"]["median"]  # type: ignore[index]
        fan = settings.fan
        extra = [(sample * fan - base) / (fan - 1) for sample in many["samples"]]  # type: ignore[index]
        cells["S2.extra"] = {"status": "ok", **_meta(many), "summary": summarize(extra)}
    for group in ("S3", "S3b"):
        small, large = cells.get(f"{group}.small"), cells.get(f"{group}.large")
        if _ok(small) and _ok(large):
            ratio = large["summary"]["median"] / small["summary"]["median"]  # type: ignore[index]
            cells[f"{group}.ratio"] = {"status": "ok", **_meta(large), "summary": {"median": ratio}}


def _ok(cell: dict[str, Any] | None) -> bool:
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
        return "-"
    if cell["status"] != "ok":
        return "n/a" if cell["status"] == "n/a" else "error"
    summary = cell["summary"]
    text = _number(summary["median"], row.unit)
    if summary.get("count", 1) > 1:
        text += f" ({_number(summary['min'], row.unit)}-{_number(summary['max'], row.unit)})"
    marks = ""
    if cell.get("mode") == "emulated":
        marks += EMULATED_MARK
    if not cell.get("waits", True):
        marks += NO_WAIT_MARK
    if cell.get("capped"):
        marks += f" @{short(cell['n'])}"
    return f"{text} {marks}".strip()


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
        for label, twin in cell.get("twins", {}).items():  # type: ignore[union-attr]
            add, remove = (summarize(twin[what])["median"] for what in ("add", "remove"))
            lines.append(f"- {titles[name].strip('*')}, {label}: add {add:,.0f} ns, remove {remove:,.0f} ns")
    return lines


# Targets


def _median(cells: dict[str, Cells], name: str, row: str) -> float | None:
    cell = cells.get(name, {}).get(row)
    return cell["summary"]["median"] if _ok(cell) else None  # type: ignore[index]


def targets(cells: dict[str, Cells], settings: Settings) -> list[dict[str, Any]]:
    """
    Issue 3's targets, each with the measured value, its limit and the verdict.
    """
    big = short(settings.big)

    def ours(row: str) -> float | None:
        return _median(cells, OURS, row)

    def half(value: float | None) -> float | None:
        return None if value is None else value / 2

    checks: list[tuple[str, float | None, float | None, str, bool]] = [
        ("S1 at most 1,200 ns", ours("S1"), 1200, "ns", False),
        *(
            (f"S1 faster than {peer}", ours("S1"), _median(cells, peer, "S1"), "ns", True)
            for peer in ("pyee", "pluggy", "blinker")
        ),
        ("S2 per extra handler at most 250 ns", ours("S2.extra"), 250, "ns", False),
        (f"S3 at {big} within 1.3x of n=10", ours("S3.ratio"), 1.3, "x", False),
        (f"S3b at {big} within 1.3x of n=10", ours("S3b.ratio"), 1.3, "x", False),
        (
            "S4 per handler at most half of pyee's",
            ours("S4"),
            half(_median(cells, "pyee", "S4")),
            "ns",
            False,
        ),
        ("S5 at most 400 B per handler", ours("S5"), 400, "B", False),
        (f"add at {big} registered under 5 µs", ours("C.add"), 5000, "ns", True),
        (f"remove at {big} registered under 5 µs", ours("C.remove"), 5000, "ns", True),
    ]
    return [_verdict(*check) for check in checks]


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
            f"{_shown(check['limit'], check['unit'])} (ratio {check['ratio']:.2f})"
        )
    return lines


def _shown(value: float, unit: str) -> str:
    return f"{value:.2f}x" if unit == "x" else f"{value:,.0f} {unit}"
