"""
The package passes mypy --strict and ruff; it ships py.typed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_mypy_strict() -> None:
    checked = run(sys.executable, "-m", "mypy", "--strict", "twisted_event_dispatcher")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_ruff_lint_and_format() -> None:
    linted = run(sys.executable, "-m", "ruff", "check", "twisted_event_dispatcher", "tests", "docs")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    formatted = run(
        sys.executable, "-m", "ruff", "format", "--check", "twisted_event_dispatcher", "tests", "docs"
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_ships_py_typed() -> None:
    assert (ROOT / "twisted_event_dispatcher" / "py.typed").is_file()
