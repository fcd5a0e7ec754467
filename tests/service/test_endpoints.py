"""
Endpoint strings are checked with the rest of the configuration (a port out
of range, a type Twisted does not know, arguments it does not take), so that
``--check`` refuses them; and a start that fails all the same ends the
command with one line, not a hang.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from running import CONSOLE_SCRIPT
from service_helpers import messages
from test_command import TWIST, run
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.python.failure import Failure

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.config import ConfigError, parse_config
from twisted_event_dispatcher.plugins import PluginHost
from twisted_event_dispatcher.service import DispatcherService, _serve


@pytest.mark.parametrize(
    ("endpoint", "port"),
    [
        ("tcp:99999:interface=127.0.0.1", "99999"),
        ("tcp:port=70000:interface=127.0.0.1", "70000"),
        ("tcp6:65536:interface=\\:\\:1", "65536"),
        ("ssl:-1:interface=127.0.0.1", "-1"),
    ],
)
def test_a_port_out_of_range_is_a_mistake_of_the_file(endpoint, port):
    with pytest.raises(ConfigError) as raised:
        parse_config(f"[server]\nendpoint = '{endpoint}'\n", "app.toml")
    assert str(raised.value) == (
        f"app.toml: server.endpoint: {endpoint!r}: its port {port} is out of range: "
        "expected a port number from 0 to 65535"
    )


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        (
            "tcp:notaport:interface=127.0.0.1",
            "its port 'notaport' is not a number: expected a port number from 0 to 65535",
        ),
        ("tcp:interface=127.0.0.1", "it names no port: expected a port number from 0 to 65535"),
        ("tcp:8080:interface=127.0.0.1:bogus=1", "'tcp' endpoints take no argument 'bogus'"),
        (
            "tpc:8080:interface=127.0.0.1",
            "unknown endpoint type 'tpc': "
            "expected 'tcp', 'tcp6', 'ssl', 'unix' or a type Twisted has a plugin for",
        ),
        (
            "tcp:8080:backlog=many:interface=127.0.0.1",
            "Twisted cannot read it: ValueError: invalid literal for int() with base 10: 'many'",
        ),
    ],
)
def test_an_endpoint_twisted_cannot_read_is_named_with_what_is_wrong(endpoint, problem):
    with pytest.raises(ConfigError) as raised:
        parse_config(f"[server]\nendpoint = '{endpoint}'\ntoken = 't'\n", "app.toml")
    assert str(raised.value) == f"app.toml: server.endpoint: {endpoint!r}: {problem}"


def test_the_endpoint_is_read_before_its_exposure_is_judged():
    for endpoint, problem in [
        ("tpc:8080:interface=127.0.0.1", "unknown endpoint type 'tpc'"),
        ("tcp:notaport", "its port 'notaport' is not a number"),
    ]:
        done = run(*CONSOLE_SCRIPT, "--endpoint", endpoint)
        assert done.returncode == 64
        assert done.stderr.startswith(
            "twisted-event-dispatcher: error: <embedded default configuration>: server.endpoint: "
            f"{endpoint!r} (given on the command line): {problem}"
        )
        assert "loopback" not in done.stderr


@pytest.mark.parametrize(
    "endpoint", ["tcp:notaport:interface=127.0.0.1", "tcp:8080:interface=127.0.0.1:bogus=1"]
)
def test_check_refuses_an_endpoint_twisted_cannot_read_as_a_mistake_of_the_file(tmp_path, endpoint):
    path = tmp_path / "app.toml"
    path.write_text(f'[server]\ntoken = "t"\nendpoint = "{endpoint}"\n')
    done = run(*CONSOLE_SCRIPT, "--config", str(path), "--check")
    assert done.returncode == 64
    assert done.stderr.startswith(f"twisted-event-dispatcher: error: {path}: server.endpoint: {endpoint!r}: ")


@pytest.mark.parametrize("command", [CONSOLE_SCRIPT, [*TWIST, "event-dispatcher"]], ids=["script", "twist"])
def test_check_refuses_a_port_out_of_range_in_the_file(tmp_path, command):
    path = tmp_path / "app.toml"
    path.write_text('[server]\nendpoint = "tcp:99999:interface=127.0.0.1"\n')
    done = run(*command, "--config", str(path), "--check")
    assert done.returncode == 64
    problem = (
        f"{path}: server.endpoint: 'tcp:99999:interface=127.0.0.1': its port 99999 is out of range: "
        "expected a port number from 0 to 65535"
    )
    assert problem in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_out_of_range_on_the_command_line_is_a_usage_error():
    done = run(*CONSOLE_SCRIPT, "--endpoint", "tcp:99999:interface=127.0.0.1")
    assert done.returncode == 64
    assert done.stderr.splitlines() == [
        "twisted-event-dispatcher: error: <embedded default configuration>: server.endpoint: "
        "'tcp:99999:interface=127.0.0.1' (given on the command line): its port 99999 is out of range: "
        "expected a port number from 0 to 65535",
        "(twisted-event-dispatcher --help for usage)",
    ]


class _Reactor:
    """
    Just enough of a reactor for ``_serve``: it runs at once.
    """

    def __init__(self) -> None:
        self.triggers: list[object] = []

    def callWhenRunning(self, call, *arguments):
        call(*arguments)

    def addSystemEventTrigger(self, *arguments):
        self.triggers.append(arguments)


class _Unstartable:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def startService(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            OverflowError("bind(): port must be 0-65535."),
            "event-dispatcher: the service could not start: OverflowError: bind(): port must be 0-65535.",
        ),
        (IsADirectoryError(21, "Is a directory"), "event-dispatcher: [Errno 21] Is a directory"),
    ],
)
def test_any_failure_to_start_ends_the_command_with_one_line(error, line):
    reactor = _Reactor()
    served: Deferred[None] = _serve(reactor, _Unstartable(error))  # type: ignore[arg-type]
    outcome: list[object] = []
    served.addBoth(outcome.append)
    (failure,) = outcome
    assert isinstance(failure, Failure)
    assert failure.check(SystemExit)
    assert failure.value.code == line
    assert reactor.triggers == []


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize(
    ("endpoint", "shown"),
    [("tcp6:0:interface=\\:\\:1", "[::1]"), ("tcp:0:interface=127.0.0.1", "127.0.0.1")],
)
async def test_the_listening_line_is_a_url_an_ipv6_address_in_brackets(log_events, endpoint, shown):
    host = PluginHost(EventDispatcher(["event_type"]))
    service = DispatcherService(host, serverFromString(reactor, endpoint), reactor=reactor, token="t")
    service.startService()
    try:
        port = service.port.getHost().port
        assert f"Event dispatcher listening on http://{shown}:{port}/" in messages(log_events)
    finally:
        await service.stopService()
