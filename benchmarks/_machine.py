"""
The machine a run happened on, for the record.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def load_average() -> list[float] | None:
    """
    The 1, 5 and 15 minute load averages, where the platform has them.
    """
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def describe() -> dict[str, object]:
    """
    Python, platform, CPUs, load and the time.
    """
    try:
        twisted = metadata.version("twisted")
    except metadata.PackageNotFoundError:
        twisted = "?"
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "twisted": twisted,
        "started_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }


def one_line(machine: dict[str, object]) -> str:
    """
    The machine in one line, for the table's heading.
    """
    return (
        f"Python {machine['python']} ({machine['implementation']}), Twisted {machine['twisted']}, "
        f"{machine['platform']}, {machine['cpu_count']} CPUs ({machine['cpu_model']}), "
        f"load average {machine['load_average']} at start, {machine.get('load_average_end')} at end, "
        f"{machine['started_utc']} UTC"
    )
