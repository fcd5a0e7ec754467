#!/usr/bin/env python3
"""
The service's HTTP throughput beside a minimal ``twisted.web`` server.

    python benchmarks/http_service.py                 # 1, 16 and 128 connections, 3 rounds
    python benchmarks/http_service.py --seconds 5 --rounds 5 --access-log on
    python benchmarks/http_service.py --quick         # a smoke run: a second or two

It starts, each in a subprocess of its own on a free loopback port, the
service (``twisted-event-dispatcher`` with one no-op handler) and the
baseline (``_http_baseline.py``: parses the same JSON, answers the same
shape), once without an access log and once with one (the service's JSON
lines to a file; the baseline's Twisted access log to a file).  Then it
posts the same event to each in turn with wrk (or a Python client where wrk
is not installed), round after round, interleaved, and prints answers per
second and the ratio service / baseline for each connection count: the
median of the rounds' ratios.  Any answer other than a 200 makes the run
fail.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._http_load import Load, run_python, run_wrk, wrk_path  # noqa: E402

HERE = Path(__file__).resolve().parent

SERVICE_CONFIG = """
[dispatcher]
keywords = ["event_type"]

[server]
endpoint = "tcp:0:interface=127.0.0.1"
access_log = "{access_log}"

[plugins.noop]
path = "benchmarks._http_plugin:NoOp"
"""

START_SERVICE = "from twisted_event_dispatcher.service import main; main()"

#: How long a server may take to start listening, in seconds.
PATIENCE = 30.0


@dataclass
class Server:
    """
    A server in a subprocess, and what it served.
    """

    name: str
    process: subprocess.Popen[bytes]
    output: Path
    port: int = 0
    loads: dict[int, list[Load]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def wait_for_port(self, pattern: str) -> None:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output.read_text(errors="replace"))
            if found:
                self.port = int(found.group(1))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start:\n{self.output.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=PATIENCE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=PATIENCE)


def pinned(command: list[str], cpu: int | None) -> list[str]:
    if cpu is None or not shutil.which("taskset"):
        return command
    return ["taskset", "-c", str(cpu), *command]


def start(name: str, command: list[str], scratch: Path, pattern: str, cpu: int | None) -> Server:
    output = scratch / f"{name}.out"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with output.open("wb") as sink:
        process = subprocess.Popen(
            pinned(command, cpu), stdout=sink, stderr=subprocess.STDOUT, env=environment, cwd=ROOT
        )
    server = Server(name, process, output)
    server.wait_for_port(pattern)
    return server


def start_service(scratch: Path, access_log: bool, cpu: int | None) -> Server:
    label = "on" if access_log else "off"
    config = scratch / f"service-{label}.toml"
    log_setting = str(scratch / "service-access.jsonl") if access_log else "off"
    config.write_text(SERVICE_CONFIG.format(access_log=log_setting))
    command = [sys.executable, "-c", START_SERVICE, "--config", str(config)]
    return start(f"service, access log {label}", command, scratch, r"listening on http://[\d.]+:(\d+)/", cpu)


def start_baseline(scratch: Path, access_log: bool, cpu: int | None) -> Server:
    label = "on" if access_log else "off"
    command = [sys.executable, str(HERE / "_http_baseline.py")]
    if access_log:
        command += ["--access-log", str(scratch / "baseline-access.log")]
    return start(f"baseline, access log {label}", command, scratch, r"listening on (\d+)", cpu)


def load(server: Server, connections: int, seconds: float, client: str, cpu: int | None) -> Load:
    if client == "wrk":
        measured = run_wrk(server.url, connections, seconds, cpu)
    else:
        measured = run_python(server.url, connections, seconds)
    if measured.errors:
        raise RuntimeError(f"{server.name}: {measured.errors} error answers at {connections} connections")
    return measured


def ratios(service: Server, baseline: Server, connections: int) -> list[float]:
    return [
        ours.per_second / theirs.per_second
        for ours, theirs in zip(service.loads[connections], baseline.loads[connections], strict=True)
    ]


def report(pairs: list[tuple[str, Server, Server]], connection_counts: list[int]) -> list[str]:
    lines = [
        "| access log | connections | service (answers/s) | baseline (answers/s) | ratio (median, rounds) |",
        "|---|---|---|---|---|",
    ]
    for label, service, baseline in pairs:
        for connections in connection_counts:
            ours = statistics.median(load.per_second for load in service.loads[connections])
            theirs = statistics.median(load.per_second for load in baseline.loads[connections])
            each = ratios(service, baseline, connections)
            spread = ", ".join(f"{ratio:.2f}" for ratio in each)
            lines.append(
                f"| {label} | {connections} | {ours:,.0f} | {theirs:,.0f} | "
                f"{statistics.median(each):.2f} ({spread}) |"
            )
    return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/http_service.py",
        description="The service's HTTP throughput beside a minimal server.",
    )
    parser.add_argument("--connections", default="1,16,128", help="comma-separated connection counts")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one load run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--access-log", choices=("off", "on", "both"), default="both")
    parser.add_argument("--client", choices=("wrk", "python"), help="default: wrk if installed")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and load to CPUs")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one short round, 1 connection")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse(argv)
    client = arguments.client or ("wrk" if wrk_path() else "python")
    counts = [int(count) for count in arguments.connections.split(",")]
    seconds, rounds = arguments.seconds, arguments.rounds
    if arguments.quick:
        counts, seconds, rounds, client = [1], 0.5, 1, arguments.client or "python"
    pin = not arguments.no_pin and (os.cpu_count() or 1) >= 2
    server_cpu, load_cpu = (1, 0) if pin else (None, None)
    modes = {"off": [False], "on": [True], "both": [False, True]}[arguments.access_log]
    print(f"client: {client}; {rounds} round(s) of {seconds:g} s; pinned: {pin}")
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        pairs: list[tuple[str, Server, Server]] = []
        try:
            for access_log in modes:
                label = "on" if access_log else "off"
                pairs.append(
                    (
                        label,
                        start_service(scratch, access_log, server_cpu),
                        start_baseline(scratch, access_log, server_cpu),
                    )
                )
            servers = [server for _, *both in pairs for server in both]
            for server in servers:  # warm up
                load(server, counts[0], min(seconds, 1.0), client, load_cpu)
            for number in range(rounds):
                for connections in counts:
                    order = servers if number % 2 == 0 else servers[::-1]
                    for server in order:
                        measured = load(server, connections, seconds, client, load_cpu)
                        server.loads.setdefault(connections, []).append(measured)
        finally:
            for _, *both in pairs:
                for server in both:
                    server.stop()
        print("\n".join(report(pairs, counts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
