"""
Sphinx configuration for the twisted_event_dispatcher documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html``; run the
examples with ``sphinx-build -W -b doctest docs docs/_build/doctest`` (or
through the test suite, tests/test_docs.py, which runs each page in a process
of its own).
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import json
import pkgutil
from collections.abc import Sequence
from functools import cache
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from zope.interface.interface import Method

import twisted_event_dispatcher

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

html_theme = "furo"
html_title = "twisted_event_dispatcher"
html_static_path = ["_static"]
html_css_files = ["fit.css"]


# The reference must have an entry for every public name.


def public_modules() -> list[str]:
    """
    The public modules: the package and every module under it none of whose
    dotted parts starts with an underscore.
    """
    found = [twisted_event_dispatcher.__name__]
    for info in pkgutil.walk_packages(twisted_event_dispatcher.__path__, "twisted_event_dispatcher."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return sorted(found)


def public_names() -> list[str]:
    """
    ``module.name`` for each name in each public module's ``__all__``.
    """
    return [
        f"{module}.{name}" for module in public_modules() for name in importlib.import_module(module).__all__
    ]


def undocumented(documented: set[str]) -> list[str]:
    """
    The public names that have no entry among the ``documented`` full names.
    """
    return [name for name in public_names() if name not in documented]


def check_reference(app: Sphinx, env: BuildEnvironment) -> None:
    """
    Fail the build when a public name has no entry in the reference.
    """
    objects = env.get_domain("py").objects  # type: ignore[attr-defined]
    missing = undocumented({name for name, entry in objects.items() if not entry.aliased})
    if missing:
        raise ExtensionError(
            f"{len(missing)} public name(s) have no entry in docs/reference/: {', '.join(missing)}"
        )


# zope.interface forgets keyword-only arguments and annotations when it
# makes a Method; the reference shows the signature as the interface wrote it.


@cache
def _interface_signatures(module: str) -> dict[tuple[str, str], str]:
    tree = ast.parse(Path(inspect.getfile(importlib.import_module(module))).read_text())
    found: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    returns = f" -> {ast.unparse(item.returns)}" if item.returns else ""
                    found[node.name, item.name] = f"({ast.unparse(item.args)}){returns}"
    return found


_zope_signature = Method.getSignatureString


def _written_signature(self: Method) -> str:
    interface = self.interface
    if interface is not None and interface.__module__.startswith("twisted_event_dispatcher"):
        written = _interface_signatures(interface.__module__).get((interface.__name__, self.__name__))
        if written is not None:
            return written
    return _zope_signature(self)


Method.getSignatureString = _written_signature  # type: ignore[method-assign]


# The HTTP API reference, made from the OpenAPI document the service serves.

OPENAPI = Path(__file__).with_name("openapi.json")


def _schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rpartition("/")[2]
        return f":ref:`{name} <schema-{name.lower()}>`"
    if "items" in schema:
        return f"array of {_schema_type(schema['items'])}"
    kinds = schema.get("type", "any JSON value")
    if "enum" in schema:
        return " or ".join(f"``{json.dumps(value)}``" for value in schema["enum"])
    return " or ".join(kinds) if isinstance(kinds, list) else str(kinds)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], indent: str = "") -> list[str]:
    lines = [f"{indent}.. list-table::", f"{indent}   :header-rows: 1", ""]
    for row in (header, *rows):
        lines.append(f"{indent}   * - {row[0]}")
        lines.extend(f"{indent}     - {cell}" for cell in row[1:])
    return [*lines, ""]


def _parameters(parameters: Sequence[dict[str, Any]]) -> list[str]:
    if not parameters:
        return []
    rows = []
    for parameter in parameters:
        schema = parameter.get("schema", {})
        default = f"``{json.dumps(schema['default'])}``" if "default" in schema else "none"
        rows.append(
            (
                f"``{parameter['name']}`` ({parameter['in']})",
                _schema_type(schema),
                default,
                parameter.get("description", ""),
            )
        )
    return _table(("Parameter", "Type", "Default", "Meaning"), rows)


def openapi_rest(document: dict[str, Any]) -> str:
    """
    reST for an OpenAPI document: one section per route, with its request
    body, its answers and their status codes, then the schemas.
    """
    lines: list[str] = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            title = f"``{method.upper()} {path}``"
            lines += [f".. _http-{operation['operationId']}:", "", title, "-" * len(title), ""]
            lines += [f".. index:: pair: HTTP route; {method.upper()} {path}", ""]
            lines += [operation["summary"], ""]
            secured = "yes" if operation.get("security") else "no (answers whatever the token)"
            lines += [f"Needs the bearer token, when one is configured: {secured}.", ""]
            lines += _parameters(operation.get("parameters", ()))
            body = operation.get("requestBody")
            if body:
                for media, content in body["content"].items():
                    lines += [f"Request body (``{media}``): {_schema_type(content['schema'])}.", ""]
            rows = []
            for status, answer in operation["responses"].items():
                lines += [f".. index:: pair: HTTP status; {status} ({method.upper()} {path})", ""]
                media = ", ".join(
                    f"``{kind}`` {_schema_type(content.get('schema', {}))}"
                    for kind, content in answer.get("content", {}).items()
                )
                rows.append((f"**{status}**", answer["description"], media or "(no body)"))
            lines += _table(("Status", "Meaning", "Body"), rows)
    lines += ["Schemas", "-------", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += [f".. _schema-{name.lower()}:", "", f"``{name}``", "~" * (len(name) + 4), ""]
        if "description" in schema:
            lines += [schema["description"], ""]
        properties = schema.get("properties")
        if properties:
            required = set(schema.get("required", ()))
            rows = [
                (
                    f"``{field}``",
                    _schema_type(spec),
                    "yes" if field in required else "no",
                    spec.get("description", "") or "",
                )
                for field, spec in properties.items()
            ]
            lines += _table(("Field", "Type", "Required", "Meaning"), rows)
        else:
            lines += [f"{_schema_type(schema)}.", ""]
    return "\n".join(lines)


#: Where the HTTP API page's routes are written, for docs/reference/http.rst to include.
HTTP_ROUTES = Path(__file__).parent / "reference" / "http-routes.inc"


def write_http_routes(app: Sphinx) -> None:
    """
    Write the routes of docs/openapi.json as reST, if they changed.
    """
    text = openapi_rest(json.loads(OPENAPI.read_text())) + "\n"
    if not HTTP_ROUTES.is_file() or HTTP_ROUTES.read_text() != text:
        HTTP_ROUTES.write_text(text)


def setup(app: Sphinx) -> None:
    app.connect("env-check-consistency", check_reference)
    app.connect("builder-inited", write_http_routes)
