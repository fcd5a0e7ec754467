"""
The service as an operator runs it: the console script in a subprocess, on
a free loopback port, with a configuration and plugin modules written for
the test, spoken to over real sockets.  Every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

#: The longest the subprocess tests wait for anything, in seconds.
PATIENCE = 30.0

#: Runs the console script's main() with the interpreter of the tests.
CONSOLE_SCRIPT = [sys.executable, "-c", "from twisted_event_dispatcher.service import main; main()"]

#: Plugins: a handler that finishes only when cancelled, one that fails,
#: one that queues a follow-up event (not in the base configuration).
SLOW_PLUGIN = """
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from twisted_event_dispatcher.plugins import handles

log = Logger()


class Slow:
    @handles("during", match={"event_type": "slow"})
    def take_time(self, event):
        log.info("slow handler started")
        return Deferred()


class Failing:
    @handles("during", match={"event_type": "fail"})
    def fail(self, event):
        raise ValueError("the database password is hunter2")


class FollowingUp:
    @handles("during", match={"event_type": "parent"}, pass_context=True)
    def parent(self, event, context):
        context.follow_up("child", event_type="child")
"""


class Lines:
    """
    The lines a subprocess writes to a pipe, read by a thread, waited for
    with a bound.
    """

    def __init__(self, pipe: Any) -> None:
        self.seen: list[str] = []
        self._pipe = pipe
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._reader.start()

    def close(self) -> None:
        """
        Once the subprocess has exited: stop reading and close the pipe.
        """
        self._reader.join(timeout=PATIENCE)
        self._pipe.close()

    def _read(self, pipe: Any) -> None:
        for line in pipe:
            self._queue.put(line)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """
        The first line from now on that matches ``pattern``.
        """
        while True:
            try:
                line = self._queue.get(timeout=PATIENCE)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {self.seen!r}") from None
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def rest(self) -> list[str]:
        """
        Every line seen, once the subprocess has exited.
        """
        self._reader.join(timeout=PATIENCE)
        while not self._queue.empty():
            self.seen.append(self._queue.get_nowait())
        return self.seen


class Answer:
    """
    An HTTP answer: its status, headers and body (JSON if it is JSON).
    """

    def __init__(self, status: int, headers: dict[str, str], raw: bytes, reason: str = "") -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.raw = raw
        try:
            self.json: Any = json.loads(raw)
        except ValueError:
            self.json = None

    def __repr__(self) -> str:
        return f"<Answer {self.status} {self.raw[:300]!r}>"


class RunningService:
    """
    The console script (or another ``command``, such as ``twist ...
    event-dispatcher``) running a configuration, in a directory of its own.
    """

    def __init__(
        self, directory: Path, config: str, *arguments: str, command: list[str] = CONSOLE_SCRIPT
    ) -> None:
        self.directory = directory
        (directory / "test_plugins.py").write_text(SLOW_PLUGIN)
        self.config = directory / "app.toml"
        self.config.write_text(textwrap.dedent(config))
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")]),
        }
        self.process = subprocess.Popen(
            [*command, "--config", str(self.config), *arguments],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=environment,
            cwd=directory,
        )
        self.lines = Lines(self.process.stderr)
        self.port = int(self.lines.wait_for(r"Event dispatcher listening on http://[\d.]+:(\d+)/").group(1))

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=PATIENCE)

    def request(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """
        One request on a connection of its own; a body that is not bytes is
        sent as JSON with ``Content-Type: application/json``.
        """
        sent = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        connection = self.connection()
        try:
            connection.request(method, path, body, sent)
            response = connection.getresponse()
            headers = {name.lower(): value for name, value in response.getheaders()}
            return Answer(response.status, headers, response.read(), response.reason)
        finally:
            connection.close()

    def raw(self, data: bytes) -> Answer:
        """
        Send bytes as they are, and read the answer until the service closes
        the connection.
        """
        with socket.create_connection(("127.0.0.1", self.port), timeout=PATIENCE) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in header_lines if ": " in line)
        return Answer(int(status_line.split()[1]), headers, body)

    def stop(self) -> int:
        """
        SIGTERM, and the exit status.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=PATIENCE)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=PATIENCE)
        self.lines.close()

    def log(self) -> str:
        """
        Everything the service logged, once it has exited.
        """
        return "".join(self.lines.rest())


#: A configuration: the slow and failing plugins and the event logger.
BASE_CONFIG = """
[dispatcher]
keywords = ["event_type"]
{dispatcher}

[server]
endpoint = "tcp:0:interface=127.0.0.1"
{server}

[plugins.test]
path = "test_plugins:Slow"

[plugins.failing]
path = "test_plugins:Failing"

[plugins.log]
path = "twisted_event_dispatcher.builtin_plugins:EventLogger"
"""


def run_command(*arguments: str) -> subprocess.CompletedProcess[str]:
    """
    Run the console script with ``arguments`` to its end (within
    ``PATIENCE``), its output captured as text.
    """
    return subprocess.run(
        [*CONSOLE_SCRIPT, *arguments], capture_output=True, text=True, timeout=PATIENCE, check=False
    )


def config(dispatcher: str = "", server: str = "") -> str:
    return BASE_CONFIG.format(dispatcher=dispatcher, server=server)
