"""The package reads one way: every import goes down the layer table (or stays in its own unit).

Each module's imports are read with ``ast`` (top-level, function-level and ``TYPE_CHECKING`` ones,
relative ones, and ``importlib.import_module("netanatomy...")`` with a literal name), so a lazy
import inside a handler counts as much as one at the top. The table is the one in the README's
"Layout" section; the oracle is the source text itself, not an import at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "netanatomy"

#: Bottom to top. A module may import its own unit, any unit of a lower layer, and other units
#: of its own layer as long as no cycle forms between units. Units are dotted prefixes; the
#: longest one that matches a module is its unit.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("netanatomy.errors", "netanatomy.atomic", "netanatomy.devices")),
    ("capture", ("netanatomy.capture",)),
    ("zoo", ("netanatomy.zoo",)),
    ("receptive", ("netanatomy.receptive",)),
    ("analysis", ("netanatomy.analysis",)),
    ("report", ("netanatomy.report",)),
    ("training", ("netanatomy.training",)),
    ("charlm", ("netanatomy.charlm",)),
    # The highest library layer: what combines the areas below. A top-level package that is not
    # in this table lands here (its own unit), so a new area starts at the top and moves down
    # once its place is known.
    # (explain/, html/ and the other areas being added land here by that rule.)
    ("applications", ("netanatomy.training.experiments", "netanatomy")),
    ("cli", ("netanatomy.cli", "netanatomy.__main__")),
)
TOP_LIBRARY_LAYER = "applications"
CLI = "netanatomy.cli"
#: ``from netanatomy import __version__`` reads a constant of the root package, not its API.
ROOT_CONSTANTS = {"__version__"}

_RANK = {name: i for i, (name, _) in enumerate(LAYERS)}
_UNITS = {unit: layer for layer, units in LAYERS for unit in units}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").is_file() or (PACKAGE.parent / rel / "__init__.py").is_file()


def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every ``netanatomy`` module that ``path`` imports, with the line, wherever the import sits."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "netanatomy":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "netanatomy":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if _is_module(sub):
                    yield sub, node.lineno  # `from netanatomy.cli import common`: the submodule
                elif not (target == "netanatomy" and alias.name in ROOT_CONSTANTS):
                    yield target, node.lineno
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and node.args[0].value.startswith("netanatomy")):
            yield node.args[0].value, node.lineno


def unit_of(module: str) -> tuple[str, str]:
    """(unit, layer) of a module: the longest listed prefix, else its top-level package in the top library layer."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in _UNITS:
            if prefix == "netanatomy" and len(parts) > 1:
                break  # netanatomy.X with X not in the table: its own unit, not the root's
            return prefix, _UNITS[prefix]
    return ".".join(parts[:2]), TOP_LIBRARY_LAYER


def edges() -> list[tuple[str, str, int]]:
    return [(name, target, line) for name, path in modules().items() for target, line in imports_of(name, path)]


def test_the_table_names_real_modules() -> None:
    missing = [unit for unit in _UNITS if not _is_module(unit)]
    assert not missing, f"LAYERS names modules that do not exist: {missing}"


def test_libraries_never_import_the_cli() -> None:
    bad = [f"{PACKAGE.parent / name.replace('.', '/')}.py:{line}: {name} imports {target}"
           for name, target, line in edges()
           if target.startswith(CLI) and unit_of(name)[1] != "cli"]
    assert not bad, "netanatomy.cli is the top floor; a library must not import it:\n" + "\n".join(bad)


def test_imports_go_down_the_layers() -> None:
    bad = []
    for name, target, line in edges():
        (_, layer), (_, target_layer) = unit_of(name), unit_of(target)
        if _RANK[target_layer] > _RANK[layer]:
            bad.append(f"{name} (layer {layer}) imports {target} (layer {target_layer}) at line {line}")
    assert not bad, ("imports from a lower layer into a higher one (move the code down, or the module up in "
                     "LAYERS of tests/test_layering.py and the README's Layout):\n" + "\n".join(bad))


def test_no_cycle_between_units() -> None:
    graph: dict[str, set[str]] = {}
    for name, target, _ in edges():
        a, b = unit_of(name)[0], unit_of(target)[0]
        if a != b:
            graph.setdefault(a, set()).add(b)
    # Depth-first search for a back edge; report the cycle it closes.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return [*stack[stack.index(v):], v]
            if v not in state and (cycle := visit(v)):
                return cycle
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (cycle := visit(u)):
            pytest.fail("import cycle between units: " + " -> ".join(cycle))


# --------------------------------------------------------------------------- the checker itself
def test_the_reader_sees_lazy_relative_and_string_imports(tmp_path: Path) -> None:
    """The reader must find imports hidden in functions, relative ones and import_module strings,
    or the tests above could pass on a package full of upward imports."""
    src = tmp_path / "mod.py"
    src.write_text(
        "import importlib\n"
        "from netanatomy import __version__\n"
        "def handler():\n"
        "    from netanatomy.cli.common import json_text\n"
        "    from ..zoo import registry\n"
        "    return importlib.import_module('netanatomy.charlm.train')\n"
    )
    found = {t for t, _ in imports_of("netanatomy.analysis.mod", src)}
    assert found == {"netanatomy.cli.common", "netanatomy.zoo.registry", "netanatomy.charlm.train"}


def test_unit_and_layer_lookup() -> None:
    assert unit_of("netanatomy.training.experiments.gap") == ("netanatomy.training.experiments", "applications")
    assert unit_of("netanatomy.training.trainer") == ("netanatomy.training", "training")
    assert unit_of("netanatomy.brand_new.thing") == ("netanatomy.brand_new", TOP_LIBRARY_LAYER)
    assert unit_of("netanatomy") == ("netanatomy", "applications")
    assert unit_of("netanatomy.cli.main")[1] == "cli"
    assert _RANK["capture"] < _RANK["receptive"] < _RANK["analysis"] < _RANK["report"]
