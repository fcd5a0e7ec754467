"""
A smoke run of benchmarks/broker.py at a tiny size, so that it cannot rot.
It asserts nothing about speed: only that both contenders handled every
event and that the figures are printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_broker_benchmark_prints_its_figures(broker_url):
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "broker.py"), "--events", "60", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ),
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert re.match(r"\s+1\s+\d+\s+\d+\s+[\d.]+", lines[2]), completed.stdout
    assert re.match(r"\s+2\s+\d+\s+\d+\s+[\d.]+", lines[3]), completed.stdout
    assert lines[4].startswith("latency at 300 ev/s"), completed.stdout
