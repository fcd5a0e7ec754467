"""
The documentation: its doctests, its HTML build and its runnable example.

Each page's doctests run in a process of their own, as the tutorial starts
crochet's reactor thread and pytest-twisted owns the reactor of this process.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import inspect
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from twisted_event_dispatcher.config import ConfigError, default_config_text, parse_config
from twisted_event_dispatcher.service import Options

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(page for page in DOCS.glob("**/*.rst") if "_build" not in page.parts)
PAGE_NAMES = [page.relative_to(DOCS).as_posix() for page in PAGES]

# Run one page's examples with the flags docs/conf.py gives Sphinx's doctest builder.
RUN_PAGE = """
import doctest, sys
flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
failed, attempted = doctest.testfile(sys.argv[1], module_relative=False, optionflags=flags)
print(f"{attempted} examples, {failed} failed")
"""


def run(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """
    Run the test interpreter with ``arguments`` from the repository root.
    """
    return subprocess.run(
        [sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def count_examples(page: Path) -> int:
    """
    How many examples doctest should find in ``page``: one per ``>>>`` line.
    """
    return sum(line.lstrip().startswith(">>>") for line in page.read_text().splitlines())


@pytest.mark.parametrize("page", PAGES, ids=PAGE_NAMES)
def test_page_examples_pass(page):
    """
    Every example of the page runs and prints what the page says it prints.
    """
    completed = run("-c", RUN_PAGE, str(page.relative_to(ROOT)))
    report = f"--- stdout\n{completed.stdout}--- stderr\n{completed.stderr}"
    expected = count_examples(page)
    assert completed.stdout.endswith(f"{expected} examples, 0 failed\n"), f"{page.name} failed:\n{report}"
    assert "Unhandled error" not in completed.stderr, f"{page.name} left errors unhandled:\n{report}"


def test_teaching_pages_have_examples():
    """
    The pages that teach by example have examples to run (a page whose
    examples all vanished would otherwise pass).
    """
    examples = {name: count_examples(page) > 0 for name, page in zip(PAGE_NAMES, PAGES, strict=True)}
    # The reference is generated from the code: its pages need not teach by example.
    assert {name: has for name, has in examples.items() if not name.startswith("reference/")} == {
        "benchmarks.rst": False,
        "delivery.rst": True,
        "design.rst": True,
        "handlers.rst": True,
        "howto/asyncio.rst": True,
        "howto/drain-on-shutdown.rst": True,
        "howto/evproc-entry-points.rst": True,
        "howto/flow-control.rst": True,
        "howto/limit-load.rst": True,
        "howto/luna-plugins.rst": True,
        "howto/metrics-and-traces.rst": True,
        "howto/opentelemetry.rst": True,
        "howto/order-handlers.rst": True,
        "howto/pass-data.rst": True,
        "howto/pubtools-hooks.rst": True,
        "howto/rigger-plugins.rst": True,
        "howto/scale-out.rst": True,
        "howto/stop-an-event.rst": True,
        "howto/testing.rst": True,
        "howto/threads.rst": True,
        "howto/write-a-plugin.rst": True,
        "index.rst": True,
        "operating.rst": True,
        "porting/original.rst": True,
        "scaling-out.rst": True,
        "semantics.rst": True,
        "service.rst": True,
        "tutorial.rst": True,
    }


@pytest.fixture(scope="module")
def html_build(tmp_path_factory):
    """
    The HTML documentation, built once for the tests that look at it.
    """
    target = tmp_path_factory.mktemp("html")
    completed = run("-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(target))
    return completed, target


def test_html_builds_without_warnings(html_build):
    """
    Sphinx builds the HTML documentation, and every warning is an error.
    """
    completed, target = html_build
    assert completed.returncode == 0, f"sphinx-build failed:\n{completed.stdout}{completed.stderr}"
    assert (target / "tutorial.html").is_file()
    assert (target / "reference" / "index.html").is_file()


def check_pages(*arguments: str) -> subprocess.CompletedProcess[str]:
    """
    Run docs/check_pages.py with ``arguments``.
    """
    return run(str(DOCS / "check_pages.py"), *arguments, timeout=600)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no Chromium to look at the pages with")
def test_pages_fit_a_laptop_screen(html_build, tmp_path):
    """
    In headless Chromium at 1280 pixels, no page's code blocks need sideways
    scrolling and the sidebar's title breaks no word; without the theme
    fixes (docs/_static/fit.css) the same check finds both problems (the
    command line's help has a line of over a hundred characters), so it
    does look.
    """
    _, target = html_build
    completed = check_pages(str(target))
    assert (completed.returncode, completed.stdout.splitlines()[-1][-12:]) == (0, "0 problem(s)"), (
        completed.stdout
    )
    unfixed = tmp_path / "unfixed"
    shutil.copytree(target, unfixed)
    (unfixed / "_static" / "fit.css").write_text("")
    completed = check_pages(str(unfixed), "--only", "reference/command-line.html")
    assert completed.returncode == 1
    assert "reference/command-line.html: code block scrolls sideways" in completed.stdout
    assert (
        'reference/command-line.html: sidebar title breaks the word "twisted_event_dispatcher"'
        in completed.stdout
    )


def test_page_check_skips_without_a_browser(tmp_path):
    """
    Where no Chromium is installed, the page check says it skipped and
    exits 0, instead of failing or passing silently.
    """
    completed = subprocess.run(
        [sys.executable, str(DOCS / "check_pages.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (
        0,
        "check_pages: skipped: no Chromium found (install it: apt-get install chromium)\n",
    )


def test_sphinx_runs_the_same_examples(tmp_path):
    """
    Sphinx's doctest builder, in its own process, agrees: it sees the
    examples as the documentation shows them (an example glued to the end of
    a paragraph runs under doctest but is text to Sphinx).
    """
    completed = run("-m", "sphinx", "-W", "--keep-going", "-q", "-b", "doctest", str(DOCS), str(tmp_path))
    assert completed.returncode == 0, f"sphinx doctest failed:\n{completed.stdout}{completed.stderr}"
    summary = (tmp_path / "output.txt").read_text()
    assert "0 failures in tests" in summary, summary[-2000:]


def load_conf() -> ModuleType:
    """
    docs/conf.py, imported as a module.
    """
    spec = importlib.util.spec_from_file_location("docs_conf", DOCS / "conf.py")
    assert spec is not None and spec.loader is not None
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_reference_check_covers_every_public_module():
    """
    The build's check that every public name has a reference entry looks at
    every public module, broker and its test kit included.
    """
    assert load_conf().public_modules() == [
        "twisted_event_dispatcher",
        "twisted_event_dispatcher.blocking",
        "twisted_event_dispatcher.broker",
        "twisted_event_dispatcher.broker.testing",
        "twisted_event_dispatcher.builtin_plugins",
        "twisted_event_dispatcher.config",
        "twisted_event_dispatcher.declarations",
        "twisted_event_dispatcher.discovery",
        "twisted_event_dispatcher.interfaces",
        "twisted_event_dispatcher.metrics",
        "twisted_event_dispatcher.monitoring",
        "twisted_event_dispatcher.plugins",
        "twisted_event_dispatcher.service",
        "twisted_event_dispatcher.testing",
        "twisted_event_dispatcher.tracing",
    ]


def test_reference_check_names_what_is_missing():
    """
    The check names each public name that has no entry, and only those.
    """
    conf = load_conf()
    names = conf.public_names()
    assert "twisted_event_dispatcher.config.parse_config" in names
    assert "twisted_event_dispatcher.IEventDispatcher" in names
    assert conf.undocumented(set(names)) == []
    left_out = {"twisted_event_dispatcher.config.parse_config", "twisted_event_dispatcher.IEventDispatcher"}
    assert conf.undocumented(set(names) - left_out) == sorted(left_out, key=names.index)


def test_build_fails_on_a_public_name_without_entry(tmp_path):
    """
    A copy of the docs whose reference lost one entry does not build, and
    the error names the public name.
    """
    copy = tmp_path / "docs"
    shutil.copytree(DOCS, copy, ignore=shutil.ignore_patterns("_build"))
    page = copy / "reference" / "discovery.rst"
    page.write_text(
        page.read_text().replace("   :member-order: bysource\n", "   :exclude-members: load_group\n")
    )
    completed = run("-m", "sphinx", "-q", "-b", "html", str(copy), str(tmp_path / "html"))
    assert completed.returncode != 0
    assert "twisted_event_dispatcher.discovery.load_group" in completed.stderr


def test_new_users_example_prints_the_story():
    """
    docs/examples/new_users.py, the README's main job, runs the tutorial
    scenario in a reactor and prints what every handler did.
    """
    completed = run(str(DOCS / "examples" / "new_users.py"), timeout=60)
    assert (completed.returncode, completed.stderr) == (0, ""), completed.stderr
    assert completed.stdout.splitlines() == [
        "fired 'bob' (user):",
        "  before audit              -> 'audited bob' ok",
        "  after  welcome            -> 'welcomed bob' ok",
        "fired 'susan' (admin):",
        "  before audit              -> 'audited susan' ok",
        "  during notify_admin       -> 'mailed admin about susan' ok",
        "  after  welcome            -> 'welcomed susan' ok",
        "removed notify_admin",
        "fired 'eve' (admin):",
        "  before audit              -> 'audited eve' ok",
        "e-mails sent about: ['susan']",
    ]


#: A table of the configuration file, with the least it needs to be read,
#: by the dotted name the reference gives its keys.
CONFIG_TABLES = {
    "": "",
    "dispatcher": "[dispatcher]\n",
    "events.NAME": "[events.NAME]\narguments = []\n",
    "server": "[server]\n",
    "plugins.NAME": "[plugins.NAME]\npath = 'module:Class'\n",
    "discovery": "[discovery]\n",
    "broker": "[broker]\nurl = 'amqp://guest:guest@127.0.0.1:5672/%2F'\n",
    "broker.group": "[broker]\nurl = 'amqp://guest:guest@127.0.0.1:5672/%2F'\n[broker.group]\nname = 'g'\n",
    "metrics": "[metrics]\n",
    "tracing": "[tracing]\n",
}


def keys_the_parser_accepts(table: str) -> list[str]:
    """
    The keys ``parse_config`` accepts in ``table``, as it says when given
    one it does not know.
    """
    with pytest.raises(ConfigError, match="unknown key; expected one of") as raised:
        parse_config(CONFIG_TABLES[table] + "not_a_key = 1\n", "test.toml")
    listed = ast.literal_eval(str(raised.value).partition("expected one of ")[2])
    return [f"{table}.{key}" if table else key for key in listed]


def test_configuration_reference_lists_every_key():
    """
    docs/reference/configuration.rst has an entry for every table and key
    the configuration parser accepts, and for nothing else.
    """
    accepted = {key for table in CONFIG_TABLES for key in keys_the_parser_accepts(table)}
    page = (DOCS / "reference" / "configuration.rst").read_text()
    documented = set(re.findall(r"^\.\. confval:: (\S+)$", page, re.MULTILINE))
    assert "server.token_env" in accepted and "broker.group.consumer_timeout" in accepted
    assert sorted(documented - accepted) == []
    assert sorted(accepted - documented) == []


def test_configuration_reference_gives_type_and_default():
    """
    Every key of the configuration reference says its type, and every key
    but the top-level tables its default.
    """
    page = (DOCS / "reference" / "configuration.rst").read_text()
    entries = re.split(r"^\.\. confval:: ", page, flags=re.MULTILINE)[1:]
    assert len(entries) > 50
    for entry in entries:
        name, _, body = entry.partition("\n")
        assert "   :type: " in body, name
        assert "   :default: " in body or "." not in name, name


def test_embedded_default_uses_only_documented_keys():
    """
    The embedded default configuration sets only keys the reference lists.
    """
    page = (DOCS / "reference" / "configuration.rst").read_text()
    documented = set(re.findall(r"^\.\. confval:: (\S+)$", page, re.MULTILINE))
    data = tomllib.loads(default_config_text())
    used = {f"{table}.{key}" for table, keys in data.items() if table != "plugins" for key in keys}
    used |= {f"plugins.NAME.{key}" for plugin in data["plugins"].values() for key in plugin}
    assert sorted(used - documented) == []


def test_http_reference_has_every_route_and_status():
    """
    The HTTP API page, made from docs/openapi.json, has a section for every
    route, a row for every query parameter and every status code each route
    can answer, and an index entry for each status.
    """
    document = json.loads((DOCS / "openapi.json").read_text())
    text = load_conf().openapi_rest(document)
    routes = [(method.upper(), path) for path, methods in document["paths"].items() for method in methods]
    assert ("POST", "/events") in routes and len(routes) >= 6
    for method, path in routes:
        assert f"``{method} {path}``\n" in text
        answers = document["paths"][path][method.lower()]["responses"]
        for status in answers:
            assert f"pair: HTTP status; {status} ({method} {path})" in text
            assert f"   * - **{status}**\n" in text
        for parameter in document["paths"][path][method.lower()].get("parameters", ()):
            assert f"   * - ``{parameter['name']}`` ({parameter['in']})\n" in text
    for schema in document["components"]["schemas"]:
        assert f".. _schema-{schema.lower()}:" in text
    assert ".. include:: http-routes.inc" in (DOCS / "reference" / "http.rst").read_text()


def parser_options() -> set[str]:
    """
    Every option the command line's parser takes, long and short.
    """
    options = Options()
    return {f"--{name}" for name in options.longOpt} | {
        f"-{letter}" for letter in options.shortOpt if letter != ":"
    }


def test_command_line_reference_lists_every_option():
    """
    docs/reference/command-line.rst has an ``.. option::`` entry for each
    option of the parser (both spellings), and none it does not take.
    """
    page = (DOCS / "reference" / "command-line.rst").read_text()
    documented = {
        spelling.split()[0]
        for line in re.findall(r"^\.\. option:: (.+)$", page, re.MULTILINE)
        for spelling in line.split(", ")
    }
    taken = {option.rstrip("=") for option in parser_options()}
    assert "--check" in taken and "-p" in taken
    assert sorted(documented) == sorted(taken)


def test_command_line_exit_statuses(tmp_path):
    """
    The exit statuses the page gives: 64 for a usage error, 1 for a plugin
    that cannot be loaded, 0 for --check and --version.
    """
    script = Path(sys.executable).with_name("twisted-event-dispatcher")
    page = (DOCS / "reference" / "command-line.rst").read_text()
    both = subprocess.run([script, "--port", "1", "--endpoint", "tcp:1"], capture_output=True, text=True)
    assert (both.returncode, both.stderr.splitlines()[-1]) == (
        64,
        "(twisted-event-dispatcher --help for usage)",
    )
    assert "- **64**: a usage error" in page
    assert subprocess.run([script, "--check"], capture_output=True, check=False).returncode == 0
    assert subprocess.run([script, "--version"], capture_output=True, check=False).returncode == 0
    config = tmp_path / "service.toml"
    config.write_text("[plugins.missing]\npath = 'no_such_module:Plugin'\n")
    missing = subprocess.run([script, "--config", config, "--check"], capture_output=True, text=True)
    assert (missing.returncode, missing.stderr.startswith("event-dispatcher: ")) == (1, True)
    assert "- **1**: the service could not start" in page


def documented_objects() -> list[tuple[str, object]]:
    """
    Every public name of every public module, and the public methods and
    properties of each public class, with the objects ``help()`` reads.
    """
    found: list[tuple[str, object]] = []
    for module_name in load_conf().public_modules():
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            found.append((f"{module_name}.{name}", value))
            if isinstance(value, type):
                found.extend(
                    (f"{module_name}.{name}.{member}", attribute)
                    for member, attribute in vars(value).items()
                    if (not member.startswith("_") and callable(attribute)) or isinstance(attribute, property)
                )
    return found


#: What a public docstring must not say: a pointer instead of an
#: explanation, epytext markup, or the name of private machinery.
UNHELPFUL = re.compile(
    r"^See :|[LCI]\{|``?_[a-z]\w*(?=[`.(])|\b_guard\b|_engine\.|\bwatermark\b", re.MULTILINE
)


def test_public_docstrings_explain_themselves():
    """
    ``help()`` on any public name, or on a public class's methods, shows an
    explanation: no "See ...", no epytext, no private names.
    """
    offending = {}
    for name, value in documented_objects():
        doc = inspect.getdoc(value) or ""
        if isinstance(value, (str, int, float, tuple, frozenset, dict)):
            continue
        found = UNHELPFUL.search(doc)
        if found:
            offending[name] = found.group()
    assert offending == {}


def test_readme_docs_commands_work_with_what_it_installs():
    """
    The README's commands for the documentation are tox's docs commands, run
    with the tools its installation commands put in the virtual environment.
    """
    readme = (ROOT / "README.md").read_text()
    installs = re.findall(r"\.venv/bin/pip install -e '\.\[([\w,]+)\]'", readme)
    assert "docs" in installs[0].split(","), installs
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    commands = tox["testenv:docs"]["commands"].strip().splitlines()
    assert commands == [
        "sphinx-build -W -b html docs docs/_build/html",
        "sphinx-build -W -b doctest docs docs/_build/doctest",
    ]
    assert " && ".join(f".venv/bin/{command}" for command in commands) in readme
    assert Path(sys.executable).with_name("sphinx-build").is_file()
    assert ".venv/bin/python docs/check_pages.py" in readme


def test_new_users_example_says_how_to_run_it():
    """
    The README runs the example with the virtual environment's Python; run
    by a Python without the package, it says so, and how to run it.
    """
    assert "`.venv/bin/python docs/examples/new_users.py`" in (ROOT / "README.md").read_text()
    completed = run("-S", str(DOCS / "examples" / "new_users.py"), timeout=60)
    assert completed.returncode == 1
    assert completed.stderr.endswith(
        "run this example with the Python that has twisted_event_dispatcher installed, "
        "e.g. .venv/bin/python docs/examples/new_users.py\n"
    ), completed.stderr
