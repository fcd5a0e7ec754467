"""
Load for ``benchmarks/http_service.py``: wrk when it is installed, else a
bounded client in Python (threads, one keep-alive connection each).

Both post the same body to ``/events`` for a fixed time over a given number
of connections and report the answers per second and every answer that was
not a 200 (or a socket error): a run with errors is not a measurement.
"""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

#: The event every request fires.
BODY = '{"event": {"user": "bob", "order": 7}, "details": {"event_type": "bench"}}'

WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass(frozen=True)
class Load:
    """
    What one load run measured.

    :ivar per_second: answers per second.
    :ivar answers: how many answers came back.
    :ivar errors: answers other than 200, and socket errors.
    """

    per_second: float
    answers: int
    errors: int


def wrk_path() -> str | None:
    """
    Where wrk is, or None.
    """
    return shutil.which("wrk")


def run_wrk(url: str, connections: int, seconds: float, cpu: int | None = None) -> Load:
    """
    Post to ``url`` with wrk (one thread) for ``seconds``.
    """
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "post.lua"
        script.write_text(WRK_SCRIPT)
        command = [wrk_path() or "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
        command += ["--timeout", "10s", "-s", str(script), url]
        if cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpu), *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> Load:
    """
    Read wrk's report.
    """
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise ValueError(f"cannot read wrk's report:\n{output}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets:
        errors += sum(int(count) for count in sockets.groups())
    return Load(float(rate.group(1)), int(total.group(1)), errors)


def run_python(url: str, connections: int, seconds: float) -> Load:
    """
    Post to ``url`` from ``connections`` threads for ``seconds``.
    """
    match = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    if match is None:
        raise ValueError(f"not an http URL with a port: {url}")
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    counts = [[0, 0] for _ in range(connections)]
    deadline = time.monotonic() + seconds

    def client(tally: list[int]) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=10)
        try:
            while time.monotonic() < deadline:
                connection.request("POST", path, BODY, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                tally[0 if response.status == 200 else 1] += 1
        except OSError:
            tally[1] += 1
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(tally,), daemon=True) for tally in counts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    elapsed = time.monotonic() - started
    answers = sum(ok + bad for ok, bad in counts)
    return Load(answers / elapsed, answers, sum(bad for _, bad in counts))
