"""
The command line of the console script and of ``twist event-dispatcher``:
the version, the listening place, usage errors, help, and ``--check``.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from running import CONSOLE_SCRIPT, PATIENCE, RunningService, config

from twisted_event_dispatcher._openapi import package_version

TWIST = [sys.executable, "-m", "twisted"]


def run(*arguments: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(arguments, capture_output=True, text=True, timeout=PATIENCE, check=False, cwd=cwd)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", [CONSOLE_SCRIPT, [*TWIST, "event-dispatcher"]], ids=["script", "twist"])
def test_version_prints_the_package_version(command):
    done = run(*command, "--version")
    assert (done.returncode, done.stdout) == (0, f"twisted_event_dispatcher {package_version()}\n")
    assert package_version() != "unknown"


def test_twist_help_shows_one_clean_usage_line():
    done = run(*TWIST, "event-dispatcher", "--help")
    assert done.returncode == 0
    first = done.stdout.splitlines()[0]
    assert first.endswith(
        "[options] plugin [plugin_options] event-dispatcher "
        "[--config FILE] [--endpoint ENDPOINT | --port PORT] [--reactor NAME] [--check]"
    )
    assert first.count("Usage:") == 1
    assert "--endpoint=" in done.stdout
    assert "--port=" in done.stdout


def test_script_help_names_the_script():
    done = run(*CONSOLE_SCRIPT, "--help")
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == (
        "Usage: twisted-event-dispatcher [--config FILE] [--endpoint ENDPOINT | --port PORT] "
        "[--reactor NAME] [--check]"
    )


def test_a_usage_error_is_printed_first_and_short(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nmax_body = -1\n")
    done = run(*CONSOLE_SCRIPT, "--config", str(path))
    assert done.returncode == 64
    problem = "server.max_body: expected a positive integer, got an integer -1"
    assert done.stderr.splitlines() == [
        f"twisted-event-dispatcher: error: {path}: {problem}",
        "(twisted-event-dispatcher --help for usage)",
    ]
    unknown = run(*CONSOLE_SCRIPT, "--colour")
    assert unknown.returncode == 64
    assert unknown.stderr.startswith("twisted-event-dispatcher: error: option --colour not recognized\n")
    both = run(*CONSOLE_SCRIPT, "--port", "1", "--endpoint", "tcp:1")
    assert both.stderr.startswith("twisted-event-dispatcher: error: give --endpoint or --port, not both\n")
    bad_port = run(*CONSOLE_SCRIPT, "--port", "http")
    assert bad_port.returncode == 64
    assert "expected a port number from 0 to 65535, got 'http'" in bad_port.stderr


def test_port_moves_the_service_without_toml(tmp_path):
    port = free_port()
    service = RunningService(tmp_path, config(), "--port", str(port))
    try:
        assert service.port == port
        assert service.request("GET", "/health").status == 200
        assert service.stop() == 0
    finally:
        service.close()


def test_endpoint_moves_the_service_and_is_checked_like_the_file(tmp_path):
    service = RunningService(tmp_path, config(), "--endpoint", "tcp:0:interface=127.0.0.1")
    try:
        assert service.request("GET", "/health").status == 200
        assert service.stop() == 0
    finally:
        service.close()
    public = run(*CONSOLE_SCRIPT, "--endpoint", "tcp:0")
    assert public.returncode == 64
    assert public.stderr.startswith(
        "twisted-event-dispatcher: error: <embedded default configuration>: server.endpoint: "
        "'tcp:0' (given on the command line) listens beyond the loopback interface, and no token is set"
    )


@pytest.mark.parametrize("command", [CONSOLE_SCRIPT, [*TWIST, "event-dispatcher"]], ids=["script", "twist"])
def test_check_validates_and_loads_plugins_then_exits(tmp_path, command):
    good = tmp_path / "good.toml"
    good.write_text('[plugins.log]\npath = "twisted_event_dispatcher.builtin_plugins:EventLogger"\n')
    done = run(*command, "--config", str(good), "--check")
    assert (done.returncode, done.stdout) == (
        0,
        f"{good}: valid; endpoint tcp:8080:interface=127.0.0.1; plugins loaded: log\n",
    )
    broken = tmp_path / "broken.toml"
    broken.write_text('[plugins.audit]\npath = "no_such_module:Audit"\n')
    done = run(*command, "--config", str(broken), "--check")
    assert done.returncode == 1
    assert "event-dispatcher: cannot load plugin 'no_such_module:Audit'" in done.stderr
    invalid = tmp_path / "invalid.toml"
    invalid.write_text("[server]\ntoken = ' x'\n")
    done = run(*command, "--config", str(invalid), "--check")
    assert done.returncode == 64
    assert f"{invalid}: server.token: the token has spaces" in done.stderr


@pytest.mark.parametrize("command", [CONSOLE_SCRIPT, [*TWIST, "event-dispatcher"]], ids=["script", "twist"])
def test_a_port_in_use_ends_either_command_with_one_line(command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(*command, "--port", str(port))
    line = f"event-dispatcher: Couldn't listen on 127.0.0.1:{port}: [Errno 98] Address already in use."
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    if command == CONSOLE_SCRIPT:  # through its log, after the log's time and source
        assert done.stderr.splitlines()[-1].endswith(f" {line}")
    else:  # before twist's log begins
        assert done.stderr.splitlines() == [line]
