"""No import cycle runs through ``labelsync.data``: every import counts, also those inside
functions and under ``TYPE_CHECKING``; and no module there passes 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "labelsync"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its source (AST walk)."""
    files = {module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # ``from pkg import sub`` imports the submodule when there is one
                submodules = [f"{base}.{alias.name}" for alias in node.names]
                targets = [t for t in submodules if t in files] or [base]
            else:
                continue
            edges.update(t for t in targets if t in files and t != name)
    return graph


def cycles_through(graph: dict[str, set[str]], prefix: str) -> list[list[str]]:
    """Strongly connected components (Tarjan) with more than one module, touching ``prefix``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 and any(m.startswith(prefix) for m in component):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walker_sees_imports_inside_functions_and_type_checking(tmp_path):
    pkg = tmp_path / "labelsync" / "data"
    pkg.mkdir(parents=True)
    (tmp_path / "labelsync" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
    )
    (pkg / "c.py").write_text("from .a import f\nfrom . import a, b\n")
    graph = import_graph(tmp_path / "labelsync")
    assert graph["labelsync.data.a"] == {"labelsync.data.b"}
    assert graph["labelsync.data.b"] == {"labelsync.data.a"}
    assert graph["labelsync.data.c"] == {"labelsync.data.a", "labelsync.data.b"}
    assert cycles_through(graph, "labelsync.data") == [["labelsync.data.a", "labelsync.data.b"]]


def test_no_import_cycle_through_labelsync_data():
    graph = import_graph()
    assert "labelsync.data.collate" in graph["labelsync.data.dataset"]  # the walk sees edges
    assert cycles_through(graph, "labelsync.data") == []


def test_no_data_module_over_400_lines():
    lengths = {p.name: len(p.read_text().splitlines()) for p in (PACKAGE / "data").glob("*.py")}
    assert max(lengths.values()) < 400, lengths
