#!/usr/bin/env python3
"""
Measure twisted_event_dispatcher beside its peer libraries.

    python benchmarks/run.py                # the whole suite: a few minutes on 2 cores
    python benchmarks/run.py --quick        # a smoke run: seconds
    python benchmarks/run.py --only S1,S3 --contenders floor,this_project,pyee
    python benchmarks/run.py --list         # the contenders, and which are installed
    python benchmarks/run.py --help

Each contender runs in a subprocess of its own; the table goes to stdout, the
JSON (with the machine, the settings and every sample) to benchmarks/results/.
The peers come with the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks._runner import main  # noqa: E402  (the path is set up above)

if __name__ == "__main__":
    sys.exit(main())
