"""The package's architecture as a tested contract (the import-linter idea, as a small AST test).

Imports flow one way: the command line, the web page (``serve``) and the Python API on
top, then the study and ``predict`` (independent of each other), then the engine and the
domain packages, then the run directory and bundle format, then plain helpers. An import
inside a function counts as much as one at the top of a module. No import cycles, no
module over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: top to bottom; a module may import its own layer (without cycles) or any layer below
LAYERS: list[tuple[str, ...]] = [
    ("sonomics", "sonomics.cli", "sonomics.serve", "sonomics.errors"),
    ("sonomics.study", "sonomics.predict"),
    ("sonomics.pipeline", "sonomics.report", "sonomics.data", "sonomics.radiomics",
     "sonomics.deep", "sonomics.selection", "sonomics.models", "sonomics.evaluation",
     "sonomics.segment"),
    ("sonomics.rundir", "sonomics.bundle"),
    ("sonomics.io", "sonomics.config", "sonomics.cohort_config", "sonomics.reporting_config",
     "sonomics.segment_config",
     "sonomics.progress", "sonomics.system", "sonomics.torch_io", "sonomics._version"),
]
#: pairs of the same layer that must not import each other in either direction
INDEPENDENT = [("sonomics.study", "sonomics.predict")]


def modules(src: Path) -> dict[str, Path]:
    out = {}
    for file in (src / "sonomics").rglob("*.py"):
        parts = file.relative_to(src).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rsplit(".", 1)[0] if "." in name else ""
    return name or None


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the sonomics modules it imports (anywhere in its body)."""
    known = modules(src)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, file in known.items():
        for node in ast.walk(ast.parse(file.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if not name.startswith("sonomics"):
                    continue
                target = _resolve(name, known)
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def layer_of(module: str) -> tuple[int, str]:
    best = (-1, "")
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(
                    best[1]):
                best = (i, prefix)
    return best


def violations(src: Path) -> list[str]:
    """Every upward import, cycle, unassigned module, and module over 400 lines."""
    graph = import_graph(src)
    problems = []
    for module, targets in sorted(graph.items()):
        layer, group = layer_of(module)
        if layer < 0:
            problems.append(f"{module}: in no layer (add it to LAYERS)")
            continue
        for target in sorted(targets):
            t_layer, t_group = layer_of(target)
            if 0 <= t_layer < layer:
                problems.append(f"upward import: {module} (layer {layer}) -> {target} "
                                f"(layer {t_layer})")
            for a, b in INDEPENDENT:
                if {group, t_group} == {a, b}:
                    problems.append(f"{a} and {b} must be independent: {module} -> {target}")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    for module, file in modules(src).items():
        lines = len(file.read_text().splitlines())
        if lines > 400:
            problems.append(f"{module}: {lines} lines (over 400)")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

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
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_imports_flow_one_way_without_cycles():
    assert violations(SRC) == []


def test_the_contract_catches_an_upward_import_and_a_cycle(tmp_path):
    pkg = tmp_path / "sonomics"
    (pkg / "models").mkdir(parents=True)
    (pkg / "study").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "study" / "__init__.py").write_text("from sonomics.models.a import f\n")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "models" / "a.py").write_text("def f():\n    from sonomics.models.b import g\n")
    (pkg / "models" / "b.py").write_text("def g():\n    import sonomics.study\n"
                                         "from sonomics.models.a import f\n")
    found = violations(tmp_path)
    assert any(p.startswith("upward import: sonomics.models.b") for p in found)
    assert any(p.startswith("import cycle") for p in found)
