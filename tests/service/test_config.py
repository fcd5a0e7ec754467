"""
The TOML configuration: every key read, every mistake named with file, key
and what was expected, and the embedded default.
"""

from __future__ import annotations

import textwrap

import pytest

from twisted_event_dispatcher import DispatcherError
from twisted_event_dispatcher.config import (
    DEFAULT_ENDPOINT,
    EMBEDDED,
    Config,
    ConfigError,
    DispatcherSettings,
    PluginSettings,
    ServerSettings,
    default_config_text,
    load_config,
    parse_config,
)
from twisted_event_dispatcher.declarations import EventDeclaration

FULL = """
[dispatcher]
phases = ["first", "second"]
handler_errors = "fail"
default_timeout = 2.5
threads = 4
declarations = ["myapp.events"]
handler_timeout = 1.5
drain_timeout = 10

[events.kettle_on]
arguments = ["kettle", "power"]
keywords = ["kettle"]
doc = "Called before a kettle is turned on."

[server]
endpoint = "tcp:9000:interface=127.0.0.1"
token = "s3cret"
max_body = 1024

[discovery]
entry_point_groups = ["pubtools.hooks"]

[plugins.log]
path = "twisted_event_dispatcher.builtin_plugins:EventLogger"
options = { level = "debug" }

[plugins.kettles]
entry_point = "kettles"
group = "myapp.plugins"
enabled = false
"""


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), "app.toml")


def test_every_key_is_read():
    assert parse(FULL) == Config(
        "app.toml",
        DispatcherSettings(
            (), ("first", "second"), "fail", 2.5, 4, ("myapp.events",), handler_timeout=1.5, drain_timeout=10
        ),
        (
            EventDeclaration(
                "kettle_on", ("kettle", "power"), ("kettle",), "Called before a kettle is turned on."
            ),
        ),
        ServerSettings("tcp:9000:interface=127.0.0.1", "s3cret", 1024),
        (
            PluginSettings(
                "log",
                "twisted_event_dispatcher.builtin_plugins:EventLogger",
                None,
                options={"level": "debug"},
            ),
            PluginSettings("kettles", None, "kettles", "myapp.plugins", False),
        ),
        ("pubtools.hooks",),
    )


def test_an_empty_file_gives_the_defaults():
    assert parse("") == Config("app.toml")
    assert ServerSettings().endpoint == DEFAULT_ENDPOINT == "tcp:8080:interface=127.0.0.1"


def test_the_embedded_default_runs_on_loopback_with_the_event_logger():
    config = load_config()
    assert config.source == EMBEDDED
    assert config.dispatcher.keywords == ("event_type", "source")
    assert config.server.endpoint == DEFAULT_ENDPOINT
    assert config.server.token is None
    assert [plugin.path for plugin in config.plugins] == [
        "twisted_event_dispatcher.builtin_plugins:EventLogger"
    ]
    assert config == parse_config(default_config_text(), EMBEDDED)


def test_the_token_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EVD_TOKEN", "from-env")
    assert parse('[server]\ntoken_env = "EVD_TOKEN"').server.token == "from-env"


def test_the_token_is_not_shown_in_reprs():
    assert "s3cret" not in repr(parse(FULL))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[dispatcher",
            "app.toml: not valid TOML: Expected ']' at the end of a table declaration (at end of document)",
        ),
        (
            "dispatch = {}",
            "app.toml: dispatch: unknown key; expected one of "
            "['broker', 'discovery', 'dispatcher', 'events', ",
        ),
        ("dispatcher = 1", "app.toml: dispatcher: expected a table, got an integer 1"),
        (
            '[dispatcher]\nphases = "before"',
            "app.toml: dispatcher.phases: "
            "expected an array of distinct non-empty strings, got a string 'before'",
        ),
        (
            "[dispatcher]\nphases = []",
            "app.toml: dispatcher.phases: expected at least one phase, got an array []",
        ),
        (
            '[dispatcher]\nphases = ["a", "a"]',
            "app.toml: dispatcher.phases: "
            "expected an array of distinct non-empty strings, got an array ['a', 'a']",
        ),
        (
            '[dispatcher]\nkeywords = ["user id"]',
            "app.toml: dispatcher.keywords: "
            "expected an array of distinct Python identifiers, got an array ['user id']",
        ),
        (
            '[dispatcher]\nkeywords = ["use_weakref"]',
            "app.toml: dispatcher.keywords: expected keywords other than the reserved ['use_weakref']",
        ),
        (
            '[dispatcher]\nhandler_errors = "raise"',
            "app.toml: dispatcher.handler_errors: expected 'log' or 'fail', got a string 'raise'",
        ),
        (
            "[dispatcher]\ndrain_timeout = 0",
            "app.toml: dispatcher.drain_timeout: expected a positive number of seconds, got an integer 0",
        ),
        (
            "[dispatcher]\ndefault_timeout = -1",
            "app.toml: dispatcher.default_timeout: expected a positive number of seconds, got an integer -1",
        ),
        (
            "[dispatcher]\ndefault_timeout = true",
            "app.toml: dispatcher.default_timeout: expected a positive number of seconds, got a boolean True",
        ),
        (
            "[dispatcher]\nthreads = 1.5",
            "app.toml: dispatcher.threads: expected a positive integer, got a number 1.5",
        ),
        (
            "[dispatcher]\nphase = []",
            "app.toml: dispatcher.phase: unknown key; expected one of ['declarations', ",
        ),
        (
            "[events.e]\ndoc = 'x'",
            "app.toml: events.e.arguments: expected an array of the event's argument names, got",
        ),
        (
            "[events.e]\narguments = ['a']\nkeywords = ['b']",
            "app.toml: events.e.keywords: expected a subset of the event's arguments ('a',); ['b'] are not",
        ),
        (
            "[events.e]\narguments = ['event']\nkeywords = ['event']",
            "app.toml: events.e.keywords: "
            "expected keywords other than 'event', which carries the event's name",
        ),
        ("[events]\ne = 1", "app.toml: events.e: expected a table, got an integer 1"),
        (
            "[dispatcher]\nkeywords = ['a']\n[events.e]\narguments = ['a']",
            "app.toml: dispatcher.keywords: expected no keywords when [events] declares events",
        ),
        (
            "[server]\nmax_body = 0",
            "app.toml: server.max_body: expected a positive integer, got an integer 0",
        ),
        (
            "[server]\nendpoint = ''",
            "app.toml: server.endpoint: expected a non-empty string, got a string ''",
        ),
        (
            "[server]\ntoken = 'a'\ntoken_env = 'B'",
            "app.toml: server.token_env: expected either token or token_env, not both",
        ),
        (
            "[server]\ntoken_env = 'EVD_SURELY_UNSET_VARIABLE'",
            "app.toml: server.token_env: expected the name of a set, non-empty environment variable; "
            "EVD_SURELY_UNSET_VARIABLE is not",
        ),
        (
            "[plugins.x]\nenabled = true",
            "app.toml: plugins.x.path: expected either path ('package.module:Class') or",
        ),
        ("[plugins.x]\npath = 'a:B'\nentry_point = 'b'", "app.toml: plugins.x.path: expected either path"),
        (
            "[plugins.x]\npath = 'a:B'\ngroup = 'g'",
            "app.toml: plugins.x.group: expected no group with path: group only applies to entry_point",
        ),
        (
            "[plugins.x]\npath = 'a:B'\nenabled = 'yes'",
            "app.toml: plugins.x.enabled: expected true or false, got a string 'yes'",
        ),
        (
            "[plugins.x]\npath = 'a:B'\noptions = 3",
            "app.toml: plugins.x.options: expected a table of options, got",
        ),
        (
            "[plugins.x]\npath = 'a:B'\noption = {}",
            "app.toml: plugins.x.option: unknown key; expected one of",
        ),
        ("[plugins]\nx = 'a:B'", "app.toml: plugins.x: expected a table, got a string 'a:B'"),
        (
            "[discovery]\nentry_point_groups = 'app.handlers'",
            "app.toml: discovery.entry_point_groups: expected an array of distinct non-empty strings",
        ),
    ],
)
def test_mistakes_name_the_file_the_key_and_what_was_expected(text, message):
    with pytest.raises(ConfigError) as raised:
        parse(text)
    assert str(raised.value).startswith(message)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, DispatcherError)


def test_error_carries_source_and_key():
    with pytest.raises(ConfigError) as raised:
        parse("[server]\nmax_body = 'big'")
    assert (raised.value.source, raised.value.key) == ("app.toml", "server.max_body")


def test_load_config_reads_a_file(tmp_path):
    path = tmp_path / "app.toml"
    path.write_text(FULL)
    config = load_config(path)
    assert config.source == str(path)
    assert config.server.max_body == 1024


def test_load_config_names_a_file_it_cannot_read(tmp_path):
    path = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=f"^{path}: cannot be read: No such file or directory$"):
        load_config(path)


def test_load_config_names_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError, match=f"^{path}: not valid TOML: not UTF-8"):
        load_config(path)
