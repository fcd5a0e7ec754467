"""
Sphinx configuration for the twisted_event_dispatcher documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html``; run the
examples with ``sphinx-build -W -b doctest docs docs/_build/doctest`` (or
through the test suite, tests/test_docs.py, which runs each page in a process
of its own).
"""

from __future__ import annotations

import doctest
from importlib.metadata import version as installed_version

project = "twisted_event_dispatcher"
author = "The twisted_event_dispatcher developers"
project_copyright = "released into the public domain (the Unlicense)"
release = installed_version("twisted_event_dispatcher")
version = release

# No intersphinx: the documentation builds without network access.
extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest", "repoze.sphinx.autointerface"]

exclude_patterns = ["_build", "examples"]
default_role = "py:obj"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_class_signature = "mixed"

# The same flags as tests/test_docs.py gives the standard library's doctest.
doctest_default_flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
doctest_test_doctest_blocks = "default"

html_theme = "alabaster"
html_static_path: list[str] = []
