"""The layers of docs/architecture.md: no module imports from a layer above its own.

Read from the source with ``ast`` (nothing is imported), so a new module must be given a
layer here and on the architecture page before it can be imported anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "loyaltymetrics"

# lowest first; a module may import its own layer and the layers below it
LAYERS: dict[str, int] = {
    # 0 core: checks, types, time units and the rules shared by every dialect
    "_typing": 0,
    "_validation": 0,
    "_array": 0,
    "_periods": 0,
    "_rules": 0,
    "_lifetimes": 0,
    "_compat": 0,
    # 1 formulas: numbers, expressions and statistics
    "_survey": 1,
    "_retention": 1,
    "_commerce": 1,
    "_value": 1,
    "_index": 1,
    "expr": 1,
    "stats": 1,
    "_survival": 1,
    "": 1,  # the package itself re-exports the formulas
    # 2 tables, 3 models
    "tables": 2,
    "models": 3,
    # 4 applications: sample data, plots, the report and its command line
    "datasets": 4,
    "plot": 4,
    "_report": 4,
    "cli": 4,
    "__main__": 4,
}

# inside tables: the shared plumbing, below the boundary, below the table modules
TABLE_LAYERS: dict[str, int] = {"_narwhals": 0, "_plumbing": 1, "_by": 1, "_engine": 2, "_parts": 2}
TABLE_MODULES = {"_rfm", "_cohorts", "_period_summary", "_customer_summary", "_survey_summary"}
TABLE_MODULES |= {"_segments", "_subscriptions"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the loyaltymetrics modules (or names) that `path` imports."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return _imports_of(path.read_text(encoding="utf-8"), package)


def _imports_of(source: str, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("loyaltymetrics")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("loyaltymetrics"):
                continue
            if node.module is None or target == "loyaltymetrics":
                found |= {f"{target}.{a.name}" for a in node.names}
            else:
                found.add(target)
    return found


def _layer(name: str) -> int:
    parts = name.split(".")[1:]  # drop "loyaltymetrics"
    head = parts[0] if parts else ""
    if head not in LAYERS and not head.startswith("__"):
        raise AssertionError(f"module loyaltymetrics.{head} has no layer in test_architecture")
    return LAYERS.get(head, LAYERS[""])  # `from loyaltymetrics import __version__`


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=[_module(p) for p in SOURCES])
def test_no_module_imports_from_a_layer_above_it(path: Path) -> None:
    own = _layer(_module(path))
    for name in _imports(path):
        assert _layer(name) <= own, f"{_module(path)} (layer {own}) imports {name}"


TABLE_SOURCES = sorted(p for p in (PACKAGE / "tables").glob("_*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", TABLE_SOURCES, ids=[p.stem for p in TABLE_SOURCES])
def test_table_modules_use_the_plumbing_and_not_each_other(path: Path) -> None:
    assert path.stem in TABLE_LAYERS or path.stem in TABLE_MODULES, f"new module {path.stem}"
    own = TABLE_LAYERS.get(path.stem, 3)
    for name in _imports(path):
        if not name.startswith("loyaltymetrics.tables."):
            continue
        sibling = name.split(".")[2]
        assert sibling not in TABLE_MODULES, f"{path.stem} imports the table module {sibling}"
        assert TABLE_LAYERS[sibling] < own, f"{path.stem} imports {sibling} (not below it)"


def test_the_checker_sees_imports_of_every_form() -> None:
    # the test must be able to fail: relative, absolute and "from package import module"
    source = "from .. import plot\nfrom loyaltymetrics.models import x\nfrom . import _rfm\n"
    found = _imports_of(source, "loyaltymetrics.tables")
    assert found == {"loyaltymetrics.plot", "loyaltymetrics.models", "loyaltymetrics.tables._rfm"}
    assert max(_layer(n) for n in found) > LAYERS["tables"]


def test_no_table_module_is_longer_than_800_lines() -> None:
    # a newcomer reads a table's whole logic in one file of a readable length
    for path in [*TABLE_SOURCES, PACKAGE / "_rules.py", PACKAGE / "_periods.py"]:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 800, f"{_module(path)} has {lines} lines"
