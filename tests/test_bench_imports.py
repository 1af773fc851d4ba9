"""The benchmark scripts import only names that exist: each ``from X import names`` in ``bench/`` (also inside
functions) names a definition of the sibling script ``X`` or an attribute of the package module ``X``."""

import ast
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(BENCH.glob("*.py"))


def top_level_names(path: Path) -> set[str]:
    """Names a module defines or imports at its top level."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_bench_script_imports_names_that_exist(script):
    missing = []
    for node in ast.walk(ast.parse(script.read_text())):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        names = [a.name for a in node.names]
        if (BENCH / f"{node.module}.py").exists():
            missing += [f"{node.module}.{n}" for n in names if n not in top_level_names(BENCH / f"{node.module}.py")]
        elif node.module.split(".")[0] == "dccnnreg":
            module = importlib.import_module(node.module)
            missing += [f"{node.module}.{n}" for n in names if not hasattr(module, n)
                        and importlib.util.find_spec(f"{node.module}.{n}") is None]
    assert not missing, f"{script.name} imports names that do not exist: {missing}"
