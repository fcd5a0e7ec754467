"""
The service on Twisted's asyncio reactor: chosen by the console script's
``--reactor asyncio``, by ``[server] reactor = "asyncio"``, or by
``twist --reactor=asyncio event-dispatcher``.  A plugin whose lifecycle and
handler are asyncio coroutines answers a fired event through an asyncio
queue and a background asyncio task, and SIGTERM drains an event waiting on
an asyncio event that the plugin's ``async`` stop sets.

Each service runs in a subprocess on a free loopback port.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import pytest
from running import CONSOLE_SCRIPT, PATIENCE, Answer, RunningService

from twisted_event_dispatcher.config import ConfigError, parse_config

#: A LUNA-like plugin written with asyncio alone.
ASYNCIO_PLUGIN = """
import asyncio

from twisted.logger import Logger

from twisted_event_dispatcher.plugins import handles

log = Logger()


class Shouter:
    async def initialize(self):
        self.requests = asyncio.Queue()
        self.released = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.worker = loop.create_task(self.work())
        log.info("asyncio plugin initialized on {loop}", loop=type(loop).__name__)

    async def work(self):
        while True:
            text, answer = await self.requests.get()
            answer.set_result(text.upper())

    @handles("during", match={"event_type": "shout"})
    async def shout(self, event):
        await asyncio.sleep(0)
        answer = asyncio.get_running_loop().create_future()
        await self.requests.put((event["text"], answer))
        return await answer

    @handles("during", match={"event_type": "wait"})
    async def wait(self, event):
        log.info("waiting for the release")
        await self.released.wait()
        return "released by stop()"

    async def stop(self):
        await asyncio.sleep(0)
        self.released.set()

    async def close(self):
        self.worker.cancel()
        try:
            await self.worker
        except asyncio.CancelledError:
            log.info("asyncio worker cancelled")
"""

PLUGIN_CONFIG = """
[dispatcher]
keywords = ["event_type"]

[server]
endpoint = "tcp:0:interface=127.0.0.1"
{server}

[plugins.shouter]
path = "asyncio_plugin:Shouter"
"""

TWIST = [sys.executable, "-m", "twisted", "--reactor=asyncio", "--log-file=+", "--log-format=text"]


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """
    A directory holding the plugin module, on the services' PYTHONPATH.
    """
    directory = tmp_path / "modules"
    directory.mkdir()
    (directory / "asyncio_plugin.py").write_text(ASYNCIO_PLUGIN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")]))
    return directory


def fire(service: RunningService, event_type: str, event: object) -> Answer:
    return service.request("POST", "/events", {"event": event, "details": {"event_type": event_type}})


@pytest.mark.parametrize(
    ("server", "arguments", "command"),
    [
        ("", ("--reactor", "asyncio"), CONSOLE_SCRIPT),
        ('reactor = "asyncio"', (), CONSOLE_SCRIPT),
        ("", (), [*TWIST, "event-dispatcher"]),
    ],
    ids=["script-option", "config-key", "twist"],
)
def test_an_asyncio_plugin_answers_and_sigterm_drains(tmp_path, plugin_path, server, arguments, command):
    service = RunningService(tmp_path, PLUGIN_CONFIG.format(server=server), *arguments, command=[*command])
    try:
        service.lines.wait_for(r"asyncio plugin initialized on _UnixSelectorEventLoop")
        answer = fire(service, "shout", {"text": "hello"})
        assert answer.status == 200, answer
        assert [handler["value"] for handler in answer.json["handlers"]] == ["HELLO"]

        waiting: list[Answer] = []
        thread = threading.Thread(target=lambda: waiting.append(fire(service, "wait", {})))
        thread.start()
        service.lines.wait_for("waiting for the release")
        service.process.send_signal(signal.SIGTERM)
        thread.join(timeout=PATIENCE)
        [drained] = waiting
        assert drained.status == 200, drained
        assert [handler["value"] for handler in drained.json["handlers"]] == ["released by stop()"]
        service.lines.wait_for("asyncio worker cancelled")
        service.lines.wait_for("Event dispatcher stopped: every event in flight was answered")
        assert service.stop() in (0, -signal.SIGTERM)  # twist re-raises the signal
        assert not any("Traceback" in line for line in service.lines.rest())
    finally:
        service.close()


def run(*arguments: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(arguments, capture_output=True, text=True, timeout=PATIENCE, check=False, cwd=cwd)


def test_a_bad_reactor_is_a_usage_error(tmp_path):
    bad_option = run(*CONSOLE_SCRIPT, "--reactor", "tokio")
    assert bad_option.returncode == 64
    assert "--reactor takes 'asyncio' or 'default', got 'tokio'" in bad_option.stderr
    path = tmp_path / "app.toml"
    path.write_text('[server]\nreactor = "trio"\n')
    bad_key = run(*CONSOLE_SCRIPT, "--config", str(path))
    assert bad_key.returncode == 64
    assert f"{path}: server.reactor: expected 'default' or 'asyncio', got a string 'trio'" in bad_key.stderr


def test_twist_with_another_reactor_refuses_a_configuration_that_asks_for_asyncio(tmp_path):
    path = tmp_path / "app.toml"
    path.write_text('[server]\nreactor = "asyncio"\n')
    done = run(sys.executable, "-m", "twisted", "event-dispatcher", "--config", str(path), cwd=tmp_path)
    assert done.returncode == 1
    assert re.search(
        r"event-dispatcher: the asyncio reactor is asked for, but the \w+Reactor is installed: "
        r"run twist --reactor=asyncio event-dispatcher",
        done.stderr,
    ), done.stderr


def test_the_reactor_key_is_read_and_checked():
    assert parse_config("", "app.toml").server.reactor == "default"
    assert parse_config('[server]\nreactor = "asyncio"\n', "app.toml").server.reactor == "asyncio"
    expected = r"server\.reactor: expected 'default' or 'asyncio', got a string 'uvloop'"
    with pytest.raises(ConfigError, match=expected):
        parse_config('[server]\nreactor = "uvloop"\n', "app.toml")


def test_check_accepts_the_asyncio_reactor(tmp_path):
    path = tmp_path / "app.toml"
    path.write_text('[server]\nreactor = "asyncio"\n')
    done = run(*CONSOLE_SCRIPT, "--config", str(path), "--check")
    assert (done.returncode, done.stdout) == (
        0,
        f"{path}: valid; endpoint tcp:8080:interface=127.0.0.1; plugins loaded: none\n",
    )
