"""
A smoke test of ``benchmarks/http_service.py``, so that it cannot rot: a
quick run with the Python client, without and with an access log.  It
asserts nothing about speed: ``python benchmarks/http_service.py`` shows
that, never the test suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_serves_both_servers_and_prints_the_ratios():
    command = [sys.executable, str(ROOT / "benchmarks" / "http_service.py"), "--quick", "--no-pin"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = re.findall(r"^\| (off|on) \| 1 \| ([\d,]+) \| ([\d,]+) \| ([\d.]+) \(", done.stdout, re.MULTILINE)
    assert [row[0] for row in rows] == ["off", "on"], done.stdout
    for _, service, baseline, ratio in rows:
        assert int(service.replace(",", "")) > 0
        assert int(baseline.replace(",", "")) > 0
        assert float(ratio) > 0


def test_wrk_reports_are_read_with_their_errors():
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks._http_load import parse_wrk
    finally:
        sys.path.remove(str(ROOT))
    report = """
  16 threads and 16 connections
  30000 requests in 3.00s, 9.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  10000.50
"""
    load = parse_wrk(report)
    assert (load.per_second, load.answers, load.errors) == (10000.5, 30000, 7)
