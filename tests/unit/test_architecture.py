"""The package's arrows (docs/architecture.md): no import cycle anywhere in ``sidecar/``,
and the inner parts never reach for the outer ones. Read from the source with ``ast``,
so an import hidden inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sidecar"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sidecar_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The ``sidecar`` modules ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            # "from .x import y" may name a module y or a name in x: take what exists.
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in known else stem
                       for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = sidecar_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph[node]):
            if target in on_path:
                return [*path[path.index(target):], target]
            if target not in done and (cycle := visit(target)):
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_sees_the_imports_it_checks() -> None:
    graph = import_graph()
    assert "sidecar.jobs.runner" in graph["sidecar.web.app"]
    assert "sidecar.backends.base" in graph["sidecar.jobs.context"]
    assert "sidecar.backends.sqlite.backend" in graph["sidecar.web.app"]
    # A relative import of a sibling module (``from .routes import health``).
    assert "sidecar.web.routes.health" in graph["sidecar.web.app"]


def test_find_cycle_reports_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_sidecar() -> None:
    assert find_cycle(import_graph()) is None


# Each inner part, and the outer parts it must never import.
FORBIDDEN = {
    "sidecar.domain": ("sidecar.web", "sidecar.backends", "sidecar.jobs", "sidecar.cli",
                       "sidecar.progress", "sidecar.sources", "sidecar.wordpress",
                       "sidecar.media"),
    "sidecar.sources": ("sidecar.web", "sidecar.backends", "sidecar.cli"),
    "sidecar.media.sniff": ("sidecar.",),
    "sidecar.wordpress": ("sidecar.web", "sidecar.backends", "sidecar.cli"),
    "sidecar.jobs": ("sidecar.web", "sidecar.cli"),
    "sidecar.progress": ("sidecar.web", "sidecar.jobs", "sidecar.cli"),
    "sidecar.backends": ("sidecar.web", "sidecar.jobs", "sidecar.progress", "sidecar.cli"),
    "sidecar.cli": ("sidecar.backends", "sidecar.jobs", "sidecar.progress"),
    "sidecar.uploads": ("sidecar.web", "sidecar.backends", "sidecar.jobs", "sidecar.cli",
                        "sidecar.progress"),
}


@pytest.mark.parametrize("inner", sorted(FORBIDDEN))
def test_inner_parts_never_import_outer_ones(inner: str) -> None:
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module == inner or module.startswith(inner + ".")
        for target in targets
        if target.startswith(FORBIDDEN[inner])
    )
    assert wrong == []


# The one place that picks the engine (``open_backend``).
ENGINE_FACTORY = "sidecar.web.app"
ENGINES = ("sidecar.backends.sqlite", "sidecar.backends.redis")


def test_only_the_app_factory_reaches_for_an_engine() -> None:
    """Everything else goes through the ports of ``backends/base.py``, so a second
    engine adds an implementation and changes no caller."""
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if not module.startswith("sidecar.backends.") and module != ENGINE_FACTORY
        for target in targets
        if any(target == engine or target.startswith(engine + ".") for engine in ENGINES)
    )
    assert wrong == []
