"""The package's import graph, read from the source (every import, inside functions and
TYPE_CHECKING blocks too): no cycles, no library module importing the CLI, no module importing
another's private names. See docs/architecture.md."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "verifier"
# Import edges tolerated for now. Empty: executors.py no longer reaches into runner.py. Nothing
# may join this list without a reason written beside it.
KNOWN: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, str]]:
    """(imported module, imported name or "") for every import of a verifier module in `path`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, "") if sub in mods else (base, alias.name))
    return [(m, n) for m, n in found if m in mods and m != name]


def _graph() -> tuple[dict[str, set[str]], dict[str, list[tuple[str, str]]]]:
    mods = _modules()
    imports = {name: _imports(name, path, mods) for name, path in mods.items()}
    graph = {name: {m for m, _ in found if (name, m) not in KNOWN} for name, found in imports.items()}
    return graph, imports


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return []


def test_the_walker_sees_imports_inside_functions_and_relative_ones() -> None:
    graph, _ = _graph()
    assert "verifier.config" in graph["verifier.cli.context"]  # inside Context.config()
    assert "verifier.cli.commands" in graph["verifier.cli"]
    assert "verifier.errors" in graph["verifier.backends"]


def test_a_cycle_is_found() -> None:
    graph, _ = _graph()
    pair = {"verifier.settings", "verifier.config"}
    sub = {m: graph[m] & pair for m in pair}
    assert not _cycle(sub)
    sub["verifier.settings"].add("verifier.config")  # what config.py <-> backends/ used to be
    assert set(_cycle(sub)) == pair


def test_no_import_cycles() -> None:
    graph, _ = _graph()
    assert _cycle(graph) == []


def test_nothing_outside_cli_imports_cli() -> None:
    _, imports = _graph()
    offenders = {
        name: m
        for name, found in imports.items()
        for m, _ in found
        if m.startswith("verifier.cli") and not name.startswith("verifier.cli") and name != "verifier.__main__"
    }
    assert offenders == {}


def test_no_module_imports_another_modules_private_names() -> None:
    _, imports = _graph()
    private = {
        (name, f"{m}.{n}")
        for name, found in imports.items()
        for m, n in found
        if n.startswith("_") and not n.startswith("__") and (name, m) not in KNOWN
    }
    assert private == set()
