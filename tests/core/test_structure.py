"""The package's shape: no import circles between modules, no private name used outside its module, no long
function."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import gaplab

ROOT = Path(gaplab.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        rel = p.relative_to(ROOT.parent).with_suffix("")
        out[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = p
    return out


MODULES = _modules()
MAX_FUNCTION_LINES = 60  # code lines of one function, its docstring left out


@cache
def _tree(p: Path) -> ast.Module:
    return ast.parse(p.read_text())


def _target(name: str, p: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    pkg = name if p.name == "__init__.py" else name.rpartition(".")[0]
    parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def _imports_at_load(name: str, p: Path) -> set[str]:
    """Modules of gaplab that ``name`` imports when it loads (module level; lazy imports inside functions and
    ``if TYPE_CHECKING`` blocks do not run at load and cannot close a circle)."""
    out: set[str] = set()
    for node in _tree(p).body:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _target(name, p, node)
            out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {d for d in out if d in MODULES and d != name}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative enough for this size)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while (w := stack.pop()) != v:
                comp.append(w)
            if comp:
                out.append(sorted([v, *comp]))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    graph = {n: _imports_at_load(n, p) for n, p in MODULES.items()}
    assert sum(map(len, graph.values())) > 100  # the walk sees the package's imports
    assert _circles(graph) == []


def test_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _private_crossings(name: str, p: Path) -> list[str]:
    """``_name``s of another gaplab module that ``name`` imports or reads as ``module._name``."""
    tree = _tree(p)
    found, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _target(name, p, node)
            for a in node.names:
                if base in MODULES and base != name and a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"from {base} import {a.name}")
                if f"{base}.{a.name}" in MODULES:
                    modules[a.asname or a.name] = f"{base}.{a.name}"
        elif isinstance(node, ast.Import):
            modules.update({a.asname or a.name: a.name for a in node.names if a.name in MODULES})
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr.startswith("_")
                and not node.attr.startswith("__") and modules.get(node.value.id, name) != name):
            found.append(f"{modules[node.value.id]}.{node.attr}")
    return found


def test_no_private_name_crosses_modules() -> None:
    crossings = {n: c for n, p in MODULES.items() if (c := _private_crossings(n, p))}
    assert crossings == {}


def test_other_layers_use_the_engine_surface() -> None:
    import gaplab.engine as engine

    inside = []
    for name, p in MODULES.items():
        if name.startswith("gaplab.engine"):
            continue
        for node in ast.walk(_tree(p)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gaplab.engine."):
                if node.module != "gaplab.engine.ray_executor":  # optional extra, imported where used
                    inside.append(f"{name}: from {node.module} import ...")
            elif isinstance(node, ast.ImportFrom) and node.module == "gaplab.engine":
                inside += [f"{name}: {a.name} not exported" for a in node.names if a.name not in engine.__all__]
    assert inside == []


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the function's last line, its docstring left out: a public function's numpydoc
    docstring may be long, the code it documents may not (nested functions count toward their host)."""
    n = (node.end_lineno or node.lineno) - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        n -= (first.end_lineno or first.lineno) - first.lineno + 1
    return n


def test_every_function_is_short() -> None:
    long = [f"{name}:{node.lineno} {node.name} ({n} lines)" for name, p in MODULES.items()
            for node in ast.walk(_tree(p)) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and (n := _code_lines(node)) > MAX_FUNCTION_LINES]
    assert long == []


def test_function_length_leaves_out_the_docstring_only() -> None:
    f = ast.parse('@cache\ndef f(\n    x,\n):\n    """Doc.\n\n    More.\n    """\n    y = x\n    return y\n').body[0]
    g = ast.parse("def g():\n    'not a docstring' + 'but code'\n    return 1\n").body[0]
    assert isinstance(f, ast.FunctionDef) and isinstance(g, ast.FunctionDef)
    assert (_code_lines(f), _code_lines(g)) == (5, 3)  # def, x, ):, y =, return; a string expression is code
