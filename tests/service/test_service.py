"""
Building the service from a configuration (plugins by path, by entry point
and by discovery group; declared events), the twist plugin and the console
script, which runs in a subprocess and drains on SIGTERM.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest
from running import Lines
from service_helpers import result_of
from twisted.internet.task import Clock
from twisted.python import usage

from twisted_event_dispatcher.builtin_plugins import EventLogger
from twisted_event_dispatcher.config import ConfigError, load_config, parse_config
from twisted_event_dispatcher.declarations import DeclaredDispatcher
from twisted_event_dispatcher.discovery import PluginLoadError
from twisted_event_dispatcher.service import (
    DispatcherService,
    Options,
    build_dispatcher,
    build_host,
    build_service,
    makeService,
)

#: The longest the subprocess tests wait for the subprocess, in seconds.
PATIENCE = 30.0


def config(text: str, source: str = "app.toml"):
    return parse_config(textwrap.dedent(text), source)


def test_the_embedded_default_builds_a_service_with_the_event_logger():
    service = build_service(load_config(), reactor=Clock())  # type: ignore[arg-type]
    assert isinstance(service, DispatcherService)
    (info,) = service.host.plugins()
    assert (info.plugin_id.name, type(info.plugin)) == ("log", EventLogger)
    assert info.source == "configuration entry plugins.log in <embedded default configuration>"
    assert service.host.dispatcher.allowed_match_spec_keywords == {"event_type", "source"}


def test_configured_plugins_get_their_options_and_disabled_ones_are_not_loaded():
    host = build_host(
        config(
            """
            [dispatcher]
            phases = ["only"]
            [plugins.quiet]
            path = "twisted_event_dispatcher.builtin_plugins:EventLogger"
            options = { phase = "only", level = "debug" }
            [plugins.off]
            path = "no_such_module:Plugin"
            enabled = false
            """
        )
    )
    (info,) = host.plugins()
    assert info.plugin._level.name == "debug"
    assert [handler_id.phase for handler_id in info.handler_ids] == ["only"]


def test_a_plugin_that_cannot_be_imported_names_its_entry():
    with pytest.raises(PluginLoadError) as raised:
        build_host(config("[plugins.audit]\npath = 'no_such_module:Audit'", "/etc/app.toml"))
    assert str(raised.value).startswith(
        "cannot load plugin 'no_such_module:Audit' (configuration entry plugins.audit in /etc/app.toml): "
        "importing 'no_such_module' failed: ModuleNotFoundError"
    )


def test_a_plugin_whose_handlers_are_refused_names_its_entry():
    with pytest.raises(PluginLoadError) as raised:
        build_host(
            config(
                """
                [plugins.log]
                path = "twisted_event_dispatcher.builtin_plugins:EventLogger"
                options = { phase = "later" }
                """
            )
        )
    assert str(raised.value) == (
        "cannot load plugin 'twisted_event_dispatcher.builtin_plugins:EventLogger' "
        "(configuration entry plugins.log in app.toml): adding it failed: "
        "phase 'later' is not one of ('before', 'during', 'after')"
    )


def test_plugins_by_entry_point_and_by_discovery_group(demo_distribution):
    """EvProc's load_from: every entry point of a group is a plugin; one can also be named."""
    host = build_host(
        config(
            """
            [plugins.counting]
            entry_point = "counter"
            group = "app.handlers"
            options = { start = 10 }
            [discovery]
            entry_point_groups = ["app.handlers"]
            """
        )
    )
    assert [(info.plugin_id.name, info.source) for info in host.plugins()] == [
        ("counting", "configuration entry plugins.counting in app.toml"),
        ("counter", "entry point app.handlers:counter"),
        ("test_prepare", "entry point app.handlers:test_prepare"),
    ]
    counting, counter, _ = (info.plugin for info in host.plugins())
    assert (counting.count, counting.host, counter.count) == (10, host, 0)
    host.startService()
    result = result_of(host.dispatcher.fire_event("e"))
    assert result.values == ("prepared", None, None)
    assert counting.count == 11


def test_an_entry_point_that_is_not_installed_names_its_entry(demo_distribution):
    with pytest.raises(
        PluginLoadError, match=r"\(configuration entry plugins\.x in app\.toml\): no installed"
    ):
        build_host(config("[plugins.x]\nentry_point = 'nothing'"))
    with pytest.raises(PluginLoadError, match=r"discovery\.entry_point_groups in app\.toml"):
        build_host(config("[discovery]\nentry_point_groups = ['app.broken']"))


def test_declared_events_from_tables_and_modules(tmp_path, monkeypatch):
    (tmp_path / "kettle_specs.py").write_text(
        textwrap.dedent(
            """
            from twisted_event_dispatcher.declarations import declare_event

            @declare_event(keywords=["kettle"])
            def kettle_on(kettle):
                "Called before a kettle is turned on."
            """
        )
    )
    (tmp_path / "empty_specs.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    dispatcher = build_dispatcher(
        config(
            """
            [dispatcher]
            declarations = ["kettle_specs"]
            [events.task_start]
            arguments = []
            """
        )
    )
    assert isinstance(dispatcher, DeclaredDispatcher)
    assert sorted(dispatcher.declarations) == ["kettle_on", "task_start"]
    with pytest.raises(ConfigError, match=r"^app\.toml: events: event 'kettle_on' is declared twice$"):
        build_dispatcher(
            config(
                "[dispatcher]\ndeclarations = ['kettle_specs']\n[events.kettle_on]\narguments = ['kettle']"
            )
        )
    with pytest.raises(PluginLoadError, match="declares no events"):
        build_dispatcher(config("[dispatcher]\ndeclarations = ['empty_specs']"))
    with pytest.raises(PluginLoadError, match="expected a module of declared events"):
        build_dispatcher(config("[dispatcher]\ndeclarations = ['kettle_specs:kettle_on']"))
    for name in ("kettle_specs", "empty_specs"):
        sys.modules.pop(name, None)


def test_a_bad_endpoint_string_names_the_key():
    """
    The configuration refuses it first (tests/service/test_endpoints.py);
    one made without it still gets a message naming the key.
    """
    good = config("[server]\ntoken = 't'")
    bad = attrs.evolve(good, server=attrs.evolve(good.server, endpoint="carrier-pigeon:80"))
    with pytest.raises(
        ConfigError, match=r"^app\.toml: server\.endpoint: expected a Twisted server endpoint string"
    ):
        build_service(bad, reactor=Clock())  # type: ignore[arg-type]


def test_options_turn_configuration_mistakes_into_usage_errors(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[dispatcher]\nphases = 'before'\n")
    with pytest.raises(usage.UsageError, match=f"^{path}: dispatcher.phases: expected an array"):
        Options().parseOptions(["--config", str(path)])


def test_make_service_exits_with_the_message_when_a_plugin_cannot_load(tmp_path):
    path = tmp_path / "app.toml"
    path.write_text("[plugins.x]\npath = 'no_such_module:X'\n")
    options = Options()
    options.parseOptions(["--config", str(path)])
    with pytest.raises(SystemExit, match=r"^event-dispatcher: cannot load plugin 'no_such_module:X'"):
        makeService(options)


# The real commands, in subprocesses


def run(*arguments: str, **options) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        arguments, capture_output=True, text=True, timeout=PATIENCE, check=False, cwd=os.getcwd(), **options
    )


def test_twist_lists_the_plugin():
    finished = run(sys.executable, "-m", "twisted", "--help")
    assert finished.returncode == 0
    assert re.search(r"event-dispatcher\s+An event dispatcher with its plugins", finished.stdout)


def test_twist_reports_a_configuration_mistake_without_a_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nmax_body = -1\n")
    finished = run(sys.executable, "-m", "twisted", "event-dispatcher", "--config", str(path))
    assert finished.returncode == 64
    assert (
        f"Error: {path}: server.max_body: expected a positive integer, got an integer -1" in finished.stderr
    )
    assert "Traceback" not in finished.stdout + finished.stderr


SLOW_PLUGIN = """
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from twisted_event_dispatcher.plugins import handles

log = Logger()


class Slow:
    @handles("during", match={"event_type": "slow"})
    def take_time(self, event):
        # Finish only once the process is shutting down: the service must wait for it.
        log.info("slow handler started")
        done = Deferred()
        reactor.addSystemEventTrigger(
            "before", "shutdown", reactor.callLater, 0.2, done.callback, "finished after the signal"
        )
        return done
"""

SERVICE_CONFIG = """
[dispatcher]
keywords = ["event_type"]

[server]
endpoint = "tcp:0:interface=127.0.0.1"

[plugins.slow]
path = "slow_plugin:Slow"

[plugins.log]
path = "twisted_event_dispatcher.builtin_plugins:EventLogger"
"""


def test_the_console_script_fires_an_event_and_drains_it_on_sigterm(tmp_path):
    script = Path(sys.executable).parent / "twisted-event-dispatcher"
    if not script.exists():
        pytest.skip(f"the console script is not installed next to {sys.executable}")
    (tmp_path / "slow_plugin.py").write_text(SLOW_PLUGIN)
    path = tmp_path / "app.toml"
    path.write_text(SERVICE_CONFIG)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [str(script), "--config", str(path)], stderr=subprocess.PIPE, text=True, env=environment
    )
    lines = Lines(process.stderr)
    connection = None
    try:
        port = int(lines.wait_for(r"Event dispatcher listening on http://127\.0\.0\.1:(\d+)/").group(1))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
        body = json.dumps({"event": {"order": 7}, "details": {"event_type": "slow"}})
        connection.request("POST", "/events", body, {"Content-Type": "application/json"})
        lines.wait_for("slow handler started")
        process.send_signal(signal.SIGTERM)
        lines.wait_for(r"Stopping: no new events; 1 in flight")
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 200
        assert [handler["value"] for handler in answer["handlers"]] == ["finished after the signal", None]
        lines.wait_for("Event dispatcher stopped: every event in flight was answered")
        assert process.wait(timeout=PATIENCE) == 0
        assert not any("Traceback" in line for line in lines.seen)
    finally:
        if connection is not None:
            connection.close()
        if process.poll() is None:
            process.kill()
        process.wait(timeout=PATIENCE)
        lines.close()
