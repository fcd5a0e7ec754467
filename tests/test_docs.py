"""
The documentation: its doctests, its HTML build and its runnable example.

Each page's doctests run in a process of their own, as the tutorial starts
crochet's reactor thread and pytest-twisted owns the reactor of this process.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import twisted_event_dispatcher

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


def public_names(module_path: Path) -> list[str]:
    """
    The names a module lists in its ``__all__``, read without importing it.
    """
    for node in ast.parse(module_path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"{module_path} has no __all__")


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
    assert {name: count_examples(page) > 0 for name, page in zip(PAGE_NAMES, PAGES, strict=True)} == {
        "api.rst": False,
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
        "reference/index.rst": False,
        "scaling-out.rst": True,
        "semantics.rst": True,
        "service.rst": True,
        "tutorial.rst": True,
    }


def test_html_builds_without_warnings(tmp_path):
    """
    Sphinx builds the HTML documentation, and every warning is an error.
    """
    completed = run("-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path))
    assert completed.returncode == 0, f"sphinx-build failed:\n{completed.stdout}{completed.stderr}"
    assert (tmp_path / "tutorial.html").is_file()


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


def test_api_reference_documents_every_public_name():
    """
    api.rst documents each name the package, the blocking, testing,
    metrics and tracing modules export.
    """
    api = (DOCS / "api.rst").read_text()
    package = Path(twisted_event_dispatcher.__file__).parent
    modules = ("__init__.py", "blocking.py", "testing.py", "metrics.py", "tracing.py")
    names = [name for module in modules for name in public_names(package / module)]
    documented = set(re.findall(r"^\.\. [\w:]+:: (\w+)", api, re.MULTILINE))
    assert [name for name in names if name not in documented] == []


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
