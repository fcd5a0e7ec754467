"""
The package passes mypy --strict and ruff; it ships py.typed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_mypy_strict() -> None:
    checked = run(sys.executable, "-m", "mypy", "--strict", "twisted_event_dispatcher")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_ruff_lint_and_format() -> None:
    linted = run(sys.executable, "-m", "ruff", "check", "twisted_event_dispatcher", "tests", "docs")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    formatted = run(
        sys.executable, "-m", "ruff", "format", "--check", "twisted_event_dispatcher", "tests", "docs"
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_ships_py_typed() -> None:
    assert (ROOT / "twisted_event_dispatcher" / "py.typed").is_file()


def package_imports() -> dict[str, set[str]]:
    """
    Each module of the package, with the modules of the package it imports
    (anywhere in it: under TYPE_CHECKING, in a function, at the top).
    """
    import ast

    package = ROOT / "twisted_event_dispatcher"
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in package.rglob("*.py")
    }
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                candidates = [target, *(f"{target}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            for candidate in candidates:
                while candidate and candidate not in modules:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name and not (is_package and candidate.startswith(name + ".")):
                    graph[name].add(candidate)
    return graph


def test_imports_flow_one_way() -> None:
    """
    No import cycle among the package's modules, counting every import
    (a package re-exporting its own submodules is not a cycle).
    """
    graph = package_imports()
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
