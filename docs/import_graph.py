"""Print the project's package import graph and whether it has a cycle.

    python docs/import_graph.py          # from the repository root; exit 1 when there is a cycle

Nodes are packages: backend.<subpackage> (backend.cli for the one top-level module), ingest,
maps and bench. An edge A -> B means some module of A imports one of B, at the top or inside a
function (a deferred import is a dependency all the same); imports inside a package are left
out. Read with the standard library's `ast`, so nothing is imported or run.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = ("backend", "ingest", "maps", "bench")


def node_of(module: str) -> str | None:
    """The graph node of a dotted module name, or None outside the project."""
    parts = module.split(".")
    if parts[0] not in TOP:
        return None
    if parts[0] == "backend" and len(parts) > 1:
        return f"backend.{parts[1]}"
    return parts[0]


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The absolute names a module imports (relative imports resolved)."""
    names: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            names.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (n.level - 1)]
                prefix = ".".join(base + ([n.module] if n.module else []))
            else:
                prefix = n.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{a.name}" for a in n.names)  # `from backend import cli`
    return names


def graph() -> dict[str, dict[str, set[str]]]:
    """node -> imported node -> the modules of `node` that import it."""
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for top in TOP:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts or "vendor" in path.parts:
                continue
            module = module_of(path)
            source = node_of(module)
            assert source is not None
            edges[source]  # a node with no edges still shows
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for name in imported(tree, module, path.name == "__init__.py"):
                target = node_of(name)
                if target and target != source and target != "backend.__init__" and name != "backend":
                    edges[source][target].add(module)
    return edges


def cycles(edges: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one node (each one or more cycles)."""
    reach: dict[str, set[str]] = {}
    for start in edges:
        seen, stack = set(), [start]
        while stack:
            for nxt in edges.get(stack.pop(), {}):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        reach[start] = seen
    groups: list[list[str]] = []
    done: set[str] = set()
    for a in sorted(edges):
        if a in done:
            continue
        group = sorted({a} | {b for b in reach[a] if a in reach.get(b, set())})
        done.update(group)
        if len(group) > 1:
            groups.append(group)
    return groups


def main() -> int:
    edges = graph()
    for source in sorted(edges):
        targets = sorted(edges[source])
        print(f"{source:20} -> {', '.join(targets) if targets else '(nothing)'}")
    found = cycles(edges)
    if not found:
        print("\nno cycle")
        return 0
    for group in found:
        print(f"\ncycle among {', '.join(group)}:")
        for a in group:
            for b in sorted(edges[a]):
                if b in group:
                    print(f"  {a} -> {b}: {', '.join(sorted(edges[a][b]))}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
