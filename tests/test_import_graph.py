"""The package's imports run one way: no cycles, and the evaluation chain scoring <- predictions <- reports <- compare <- CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("inference", "training")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("frontlines", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports anywhere in its source (lazy imports in functions included)."""
    modules = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).glob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from training import x" may name a module x of the package
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            deps.update(t for t in targets if t in modules and t != name)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*path[path.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None


def test_inference_never_imports_training():
    graph = import_graph()
    upward = {m: sorted(d for d in deps if d.startswith("frontlines.training")) for m, deps in graph.items() if m.startswith("frontlines.inference")}
    assert {m: d for m, d in upward.items() if d} == {}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize(
    "module,must_not_reach",
    [
        ("frontlines.training.scoring", {"frontlines.training.predictions", "frontlines.training.reports", "frontlines.training.compare", "frontlines.training.evaluate"}),
        ("frontlines.training.predictions", {"frontlines.training.reports", "frontlines.training.compare", "frontlines.training.evaluate"}),
        ("frontlines.training.reports", {"frontlines.training.compare", "frontlines.training.evaluate"}),
        ("frontlines.training.compare", {"frontlines.training.evaluate"}),
    ],
)
def test_evaluation_chain_runs_one_way(module, must_not_reach):
    graph = import_graph()
    assert module in graph
    assert _reachable(graph, module) & must_not_reach == set()


def test_nothing_imports_the_evaluate_cli():
    """``python -m training.evaluate`` must run the module once: as __main__, never again under its own name."""
    graph = import_graph()
    assert sorted(m for m, deps in graph.items() if "frontlines.training.evaluate" in deps and m != "frontlines.training.train") == []
