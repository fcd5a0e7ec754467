"""
Finding plugins by dotted path and by entry-point group, with errors that
name the plugin and the configuration entry.
"""

from __future__ import annotations

import pytest

from twisted_event_dispatcher import DispatcherError
from twisted_event_dispatcher.discovery import (
    PluginLoadError,
    instantiate,
    load_dotted,
    load_entry_point,
    load_group,
)


def test_load_dotted_finds_attributes_and_modules(demo_distribution):
    import evproc_demo

    assert load_dotted("evproc_demo:Counter") is evproc_demo.Counter
    assert load_dotted("evproc_demo") is evproc_demo
    assert load_dotted("evproc_demo:Counter.count_event") is evproc_demo.Counter.count_event


def test_load_dotted_names_the_plugin_and_entry_when_the_module_is_missing():
    with pytest.raises(PluginLoadError) as raised:
        load_dotted("no_such_package.plugins:Audit", entry="plugins.audit in /etc/app.toml")
    error = raised.value
    assert str(error).startswith(
        "cannot load plugin 'no_such_package.plugins:Audit' "
        "(configuration entry plugins.audit in /etc/app.toml): "
        "importing 'no_such_package.plugins' failed: ModuleNotFoundError("
    )
    assert isinstance(error.__cause__, ModuleNotFoundError)
    assert isinstance(error, ImportError)
    assert isinstance(error, DispatcherError)
    assert (error.plugin, error.entry) == ("no_such_package.plugins:Audit", "plugins.audit in /etc/app.toml")


def test_load_dotted_reports_an_error_raised_while_importing(demo_distribution):
    with pytest.raises(
        PluginLoadError, match=r"importing 'evproc_broken' failed: RuntimeError\('broken at import'\)"
    ):
        load_dotted("evproc_broken:Thing")


def test_load_dotted_reports_a_missing_attribute(demo_distribution):
    with pytest.raises(PluginLoadError, match="'evproc_demo' has no attribute 'Nothing'"):
        load_dotted("evproc_demo:Nothing", entry="plugins.x")


@pytest.mark.parametrize("path", ["", ":Class", "pkg..mod:Class", "pkg-mod:Class", 3])
def test_load_dotted_refuses_malformed_paths(path):
    with pytest.raises(PluginLoadError, match="expected"):
        load_dotted(path)  # type: ignore[arg-type]


def test_load_group_loads_every_entry_point_sorted_by_name(demo_distribution):
    import evproc_demo

    assert load_group("app.handlers") == [
        ("counter", evproc_demo.Counter),
        ("test_prepare", evproc_demo.test_prepare),
    ]
    assert load_group("app.nothing_installed") == []


def test_load_group_names_the_entry_point_that_cannot_load(demo_distribution):
    with pytest.raises(PluginLoadError) as raised:
        load_group("app.broken", entry="discovery.entry_point_groups")
    assert str(raised.value).startswith(
        "cannot load plugin 'app.broken:broken = evproc_broken' "
        "(configuration entry discovery.entry_point_groups): "
        "loading the entry point failed: RuntimeError('broken at import')"
    )


def test_load_entry_point_finds_one_by_name(demo_distribution):
    import evproc_demo

    assert load_entry_point("app.handlers", "counter") is evproc_demo.Counter


def test_load_entry_point_reports_a_missing_name(demo_distribution):
    with pytest.raises(PluginLoadError, match="no installed distribution has entry point 'audit'"):
        load_entry_point("app.handlers", "audit", entry="plugins.audit")
    with pytest.raises(PluginLoadError, match="AttributeError"):
        load_entry_point("app.broken", "missing")


def test_instantiate_builds_classes_with_options_and_the_host(demo_distribution):
    import evproc_demo

    host = object()
    counter = instantiate(evproc_demo.Counter, {"start": 5}, plugin="evproc_demo:Counter", host=host)
    assert isinstance(counter, evproc_demo.Counter)
    assert (counter.count, counter.host) == (5, host)


def test_instantiate_uses_other_objects_as_they_are(demo_distribution):
    import evproc_demo

    assert instantiate(evproc_demo, {}, plugin="evproc_demo") is evproc_demo


def test_instantiate_refuses_options_that_do_not_fit(demo_distribution):
    import evproc_demo

    with pytest.raises(PluginLoadError) as raised:
        instantiate(evproc_demo.Counter, {"begin": 1}, plugin="evproc_demo:Counter", entry="plugins.counter")
    assert str(raised.value) == (
        "cannot load plugin 'evproc_demo:Counter' (configuration entry plugins.counter): "
        "its options do not fit Counter: got an unexpected keyword argument 'begin'"
    )
    with pytest.raises(PluginLoadError, match=r"options \['start'\] given, but <module 'evproc_demo'"):
        instantiate(evproc_demo, {"start": 1}, plugin="evproc_demo")


def test_instantiate_reports_a_failing_constructor():
    class Failing:
        def __init__(self):
            raise OSError("no such bucket")

    with pytest.raises(PluginLoadError, match=r"building .*Failing failed: OSError\('no such bucket'\)"):
        instantiate(Failing, {}, plugin="x:Failing")


def test_instantiate_calls_classes_whose_signature_cannot_be_read():
    assert instantiate(dict, {"a": 1}, plugin="builtins:dict") == {"a": 1}
