"""
Driving the workers: one process per contender, all alive during a round,
their timing samples taken in turn.

The machine's load drifts (it is shared, and has 2 cores), so the samples a
row compares are taken side by side: for each run, every worker registers its
handlers, then sample k of every contender is taken before sample k + 1 of any,
starting with a different contender each time.  A worker that is not sampling
waits on its input, so it does not compete for the CPU.
"""

from __future__ import annotations

import argparse
import json
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._plan import Settings, runs
from .contenders import load

RUN = Path(__file__).resolve().parent / "run.py"


class WorkerFailed(RuntimeError):
    """
    A worker died, or did not answer in time.
    """


class Worker:
    """
    One contender's worker process, spoken to in JSON lines.
    """

    def __init__(self, name: str, settings: Settings, args: argparse.Namespace) -> None:
        self.name = name
        self.timeout: float = args.timeout
        self.errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (closed by close(), with the process)
        command = [sys.executable, str(RUN), "--worker", name, "--settings", json.dumps(settings.to_json())]
        command += [] if args.pin is None else ["--pin", str(args.pin)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, text=True
        )

    def read(self) -> dict[str, Any]:
        """
        The worker's next answer.

        :raises WorkerFailed: if it died or took longer than the timeout.
        """
        stdout = self.process.stdout
        assert stdout is not None
        ready = select.select([stdout], [], [], self.timeout)[0]
        line = stdout.readline() if ready else ""
        if not line:
            raise WorkerFailed(self._why(bool(ready)))
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, **command: object) -> dict[str, Any]:
        """
        Send one command and return the answer.
        """
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(command) + "\n")
            stdin.flush()
        except BrokenPipeError:
            raise WorkerFailed(self._why(True)) from None
        return self.read()

    def _why(self, answered: bool) -> str:
        if not answered:
            return f"no answer in {self.timeout:.0f} s"
        code = self.process.wait(timeout=30)
        self.errors.seek(0)
        tail = " | ".join(self.errors.read().strip().splitlines()[-3:])
        return f"the worker exited with {code}: {tail}"

    def close(self) -> None:
        """
        Let the worker quit (or end it), and forget its error output.
        """
        if self.process.poll() is None:
            try:
                if self.process.stdin is not None:
                    self.process.stdin.close()
                self.process.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.errors.close()


class Bundle:
    """
    The selected scenarios, measured on every contender at once.
    """

    def __init__(self, names: list[str], settings: Settings, args: argparse.Namespace) -> None:
        self.names = names
        self.settings = settings
        self.reports: dict[str, dict[str, Any]] = {}
        self.live: list[Worker] = []
        for name in names:
            self._introduce(Worker(name, settings, args))

    def _introduce(self, worker: Worker) -> None:
        try:
            report = worker.read()
        except WorkerFailed as failure:
            report = _failed(worker.name, failure)
        self.reports[worker.name] = report
        if "unavailable" in report or "failed" in report:
            worker.close()
        else:
            report["cells"] = {}
            self.live.append(worker)

    def measure(self) -> list[dict[str, Any]]:
        """
        Run every run of the plan on every live worker; return their reports.
        """
        try:
            for index in range(len(runs(self.settings))):
                self._measure_run(index)
        finally:
            for worker in self.live:
                worker.close()
        return [self.reports[name] for name in self.names]

    def _measure_run(self, index: int) -> None:
        wanted = {}
        for worker in list(self.live):
            answer = self._attempt(worker, do="start", run=index)
            if answer is not None:
                wanted[worker.name] = answer["samples"]
        for turn in range(max(wanted.values(), default=0)):
            takers = [worker for worker in self.live if wanted.get(worker.name, 0) > turn]
            shift = turn % len(takers) if takers else 0
            for worker in takers[shift:] + takers[:shift]:
                self._attempt(worker, do="sample")
        for worker in list(self.live):
            answer = self._attempt(worker, do="finish")
            if answer is not None:
                self.reports[worker.name]["cells"].update(answer["cells"])

    def _attempt(self, worker: Worker, **command: object) -> dict[str, Any] | None:
        try:
            return worker.ask(**command)
        except WorkerFailed as failure:
            self.reports[worker.name]["failed"] = str(failure)
            self.live.remove(worker)
            worker.close()
            return None


def _failed(name: str, failure: Exception) -> dict[str, Any]:
    contender = load(name)
    return {"name": name, "title": contender.title, "about": contender.about, "failed": str(failure)}
