"""The package's architecture holds: each layer imports only layers below it (no cycle, no climb back up), and
``from pyserini_qpeft import QPEFTReranker`` stays light (no Java, no evaluation, no CLI)."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pyserini_qpeft"
# Bottom to top; a module may import its own layer and those before it.
LAYERS = [
    {"errors", "text", "candidate"},
    {"files"},
    {"model"},
    {"runs"},
    {"lucene"},
    {"integrations"},
    {"reranker"},
    {"training"},
    {"cli", "__main__", "__init__"},
]


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def imports():
    """(importing module, imported pyserini_qpeft module) for every import, module-level or in a function."""
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 2 else parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}: relative import; spell it pyserini_qpeft.<layer>...")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pyserini_qpeft"):
                names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "pyserini_qpeft" else []
                yield module, names[0] if names and names[0].split(".")[1] != "__version__" else node.module


def test_every_package_module_belongs_to_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    tops -= {"__pycache__", "presets"}  # presets/ holds checkpoint folders, not code
    assert tops <= set().union(*LAYERS), tops - set().union(*LAYERS)


def test_no_module_imports_a_layer_above_its_own():
    climbs = [(a, b) for a, b in imports() if b.count(".") and layer(b) > layer(a)]
    assert climbs == []


def test_no_import_cycle_between_modules():
    graph: dict[str, set[str]] = {}
    for a, b in imports():
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}

    def visit(module, path):
        state[module] = 1
        for other in graph.get(module, ()):
            assert state.get(other) != 1, " -> ".join([*path, module, other])
            if other not in state:
                visit(other, [*path, module])
        state[module] = 2

    for module in list(graph):
        if module not in state:
            visit(module, [])


def test_importing_the_reranker_loads_no_java_evaluation_or_cli():
    code = (
        "import sys\nfrom pyserini_qpeft import QPEFTReranker\n"
        "print(' '.join(m for m in sys.modules if m.startswith(('pyserini', 'jnius', 'pytrec_eval'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "pyserini_qpeft.reranker" in loaded
    unwanted = [m for m in loaded if m.startswith(("jnius", "pytrec_eval", "pyserini.", "pyserini_qpeft.cli"))]
    unwanted += [m for m in loaded if m in ("pyserini", "pyserini_qpeft.runs.evaluation")]
    assert unwanted == []
