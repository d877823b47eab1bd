"""The engine's import structure, read from the source with ast (every import, the lazy ones inside
functions too): the engine never imports the studio or gradio (the studio runs as its own process,
`python -m studio`), and no two k15core modules import each other, directly or round a longer circle."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "k15core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}


def _type_only(tree: ast.AST) -> set[int]:
    """Lines of the imports under `if TYPE_CHECKING:`: annotations only, never run."""
    return {n.lineno for block in ast.walk(tree) if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
            for stmt in block.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))}


def _imports(path: Path, runtime_only: bool = False) -> list[tuple[int, str]]:
    """(line, imported name) for every import in the file; `from a import b` names a.b where that is a module.
    `runtime_only` leaves out the type-only imports under `if TYPE_CHECKING:`."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _type_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module) for a in node.names]
    return found


def _engine_graph() -> dict[str, set[str]]:
    return {name: {dep for _, dep in _imports(path, runtime_only=True) if dep in MODULES and dep != name} for name, path in MODULES.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each one import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                circles.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_engine():
    assert "k15core.tasks.base" in MODULES and "k15core.tasks.prompt_file" in MODULES
    assert _circles(_engine_graph()) == []


STUDIO_SIDE = {"studio", "gradio", "gradio_client"}


def test_engine_never_imports_the_studio_or_gradio():
    found = [f"{path.relative_to(ROOT)}:{line} imports {name}" for path in MODULES.values() for line, name in _imports(path)
             if name.split(".")[0] in STUDIO_SIDE]
    assert found == []


def test_the_import_reader_sees_lazy_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def serve():\n    from studio.app import serve\n    import gradio as gr\n")
    assert _imports(f) == [(2, "studio.app"), (3, "gradio")]


def test_type_only_imports_are_not_runtime_arrows(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from k15core.config import ModelConfig\nimport k15core.tokens\n")
    assert _imports(f, runtime_only=True) == [(1, "typing"), (4, "k15core.tokens")]
    assert (3, "k15core.config") in _imports(f)
