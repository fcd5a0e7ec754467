"""
EvProc's rule: a handler function loaded from an entry point is named after
the entry point, so that ``requires="prep"`` refers to the entry point named
``prep``.  The same holds for a function a configuration entry names (by
path or entry point) under ``[plugins.NAME]``; a mark that names its handler
(``@handles(..., name=...)``) keeps its own name.  A requirement that names
no handler is still warned of, and listed.

The entry points are real: a distribution's metadata written to a directory
on ``sys.path``, read by ``importlib.metadata``.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
from service_helpers import failure_of, messages, result_of

from twisted_event_dispatcher import EventDispatcher, UnmetRequirementError
from twisted_event_dispatcher.config import parse_config
from twisted_event_dispatcher.discovery import load_dotted, load_group
from twisted_event_dispatcher.plugins import PluginHost
from twisted_event_dispatcher.service import build_host

#: Handler functions whose own names differ from their entry points'.  The
#: entry points sort as ``a_test``, ``b_cleanup``, ``z_prep``: loaded in
#: that order, ``a_test`` would run first but for its requirement.
MODULE = """
from twisted_event_dispatcher.plugins import handles

ran = []

@handles("during")
def prepare_database(event):
    ran.append("prepare_database")

@handles("during", requires="z_prep")
def run_the_tests(event):
    ran.append("run_the_tests")

@handles("during", name="cleanup", requires="a_test")
def tidy_up(event):
    ran.append("tidy_up")

@handles("during", requires="cleanup")
def report(event):
    ran.append("report")

@handles("during", requires="no_such_entry_point")
def orphan(event):
    ran.append("orphan")
"""

ENTRY_POINTS = """
[evproc.names]
a_test = evproc_names:run_the_tests
b_cleanup = evproc_names:tidy_up
z_prep = evproc_names:prepare_database
"""


@pytest.fixture
def names_distribution(tmp_path, monkeypatch):
    """
    An installed distribution, ``evproc-names``, with the entry-point group
    ``evproc.names``; its module is forgotten after the test.
    """
    root = tmp_path / "site"
    root.mkdir()
    (root / "evproc_names.py").write_text(textwrap.dedent(MODULE))
    info = root / "evproc_names-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evproc-names\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(root))
    yield root
    sys.modules.pop("evproc_names", None)


def ran() -> list[str]:
    return sys.modules["evproc_names"].ran


def test_requires_names_an_entry_point_and_orders_by_it(names_distribution):
    """
    ``run_the_tests`` (entry point ``a_test``) requires ``z_prep``: loaded
    first, it still runs after ``prepare_database``; ``tidy_up`` names itself
    ``cleanup`` and runs after ``a_test``.
    """
    host = PluginHost(EventDispatcher(()))
    for name, found in load_group("evproc.names"):
        host.add_plugin(found, name, source=f"entry point evproc.names:{name}")
    host.startService()
    result = result_of(host.dispatcher.fire_event("e"))
    assert result.failures == ()
    assert ran() == ["prepare_database", "run_the_tests", "tidy_up"]
    assert host.dispatcher.unmet_requirements() == {}


def test_without_a_name_a_function_plugin_keeps_its_function_name(names_distribution):
    """Added by code without a name, ``requires="z_prep"`` names nothing."""
    host = PluginHost(EventDispatcher(()))
    for _, found in load_group("evproc.names"):
        host.add_plugin(found)
    unmet = host.dispatcher.unmet_requirements()
    assert {host.plugin_of(handler_id).name: names for handler_id, names in unmet.items()} == {
        "run_the_tests": frozenset({"z_prep"}),
        "tidy_up": frozenset({"a_test"}),
    }


def test_the_service_names_discovered_and_configured_functions(names_distribution, log_events):
    """
    The service does the same for a discovery group, for ``[plugins.NAME]``
    with a dotted path and with an entry point; a requirement nothing meets
    is warned of when the event runs, and listed.
    """
    config = parse_config(
        textwrap.dedent(
            """
            [plugins.the_report]
            entry_point = "b_cleanup"
            group = "evproc.names"
            [plugins.final]
            path = "evproc_names:report"
            [plugins.lonely]
            path = "evproc_names:orphan"
            [discovery]
            entry_point_groups = ["evproc.names"]
            """
        ),
        "app.toml",
    )
    host = build_host(config)
    host.startService()
    result = result_of(host.dispatcher.fire_event("e"))
    assert result.failures == ()
    # "the_report" is tidy_up again, under its own name "cleanup" (its mark
    # names it), so "final" (report, requiring "cleanup") waits for both.
    assert ran() == ["orphan", "prepare_database", "run_the_tests", "tidy_up", "tidy_up", "report"]
    unmet = host.dispatcher.unmet_requirements()
    assert [(host.plugin_of(handler_id).name, names) for handler_id, names in unmet.items()] == [
        ("lonely", frozenset({"no_such_entry_point"}))
    ]
    warnings = [text for text in messages(log_events) if "no_such_entry_point" in text]
    assert len(warnings) == 1, messages(log_events)
    assert warnings[0].startswith("<HandlerId #") and " lonely during>" in warnings[0]
    assert "in phase 'during', but no handler of that phase has such a name" in warnings[0]


def test_strict_requirements_fail_the_fire_for_an_entry_point_not_installed(names_distribution):
    host = PluginHost(EventDispatcher((), unmet_requirements="error"))
    for name, found in load_group("evproc.names"):
        host.add_plugin(found, name)
    host.add_plugin(load_dotted("evproc_names:orphan"), "lonely")
    host.startService()
    failure = failure_of(host.dispatcher.fire_event("e"))
    assert failure.check(UnmetRequirementError)
    assert "'no_such_entry_point'" in str(failure.value)
    assert ran() == []
