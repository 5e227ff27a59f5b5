"""otter/ imports only downward: each module sits on a floor and imports from its own floor or below, without cycles.

The floors (README, "The library's shape"):

0. ground: errors, names and suggestions, the version, reading config values, what config keys mean
1. components that need only third-party libraries: schedulers, callbacks, progress
   lines, signals, atomic checkpoint saving, the timm backbone, reading checkpoints,
   ONNX metadata, previews, geometry
2. the registry (its built-ins are the floors below)
3. what uses the registry: the config schema and the LightningModule mixin
4. config loading
5. run records (folder, runs, checkpoints of runs)
6. the callbacks that write into the run folder: its records, exact resume
7. builders
8. export (builds the model of a run, then exports it)
9. the command line

Imports inside functions count too: a lazy import may save time, never hide a cycle.
"""

import ast
from pathlib import Path

import pytest

OTTER = Path(__file__).resolve().parents[1] / "otter"

FLOORS = {
    "errors": 0,
    "names": 0,
    "version": 0,
    "sections": 0,
    "schema_help": 0,
    "optim": 1,
    "callbacks": 1,
    "backbone": 1,
    "checkpoint": 1,
    "onnx_meta": 1,
    "preview": 1,
    "geometry": 1,
    "photo": 1,
    "corners": 1,
    "stop": 1,
    "progress": 1,
    "imagecheck": 1,
    "ckpt_save": 1,
    "yamlfile": 1,
    "registry": 2,
    "schema": 3,
    "probe": 3,
    "signatures": 3,
    "validate": 3,
    "module": 3,
    "config": 4,
    "runinfo": 5,
    "recorder": 6,
    "resume": 6,
    "build": 7,
    "export": 8,
    "cli": 9,
}
# The package facade re-exports names lazily from every floor; nothing inside otter imports it.
FACADE = "__init__"


def otter_imports(path: Path):
    """``(line, module)`` for every import of an otter module in ``path``, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = node.module
            elif node.level == 0 and node.module and (node.module == "otter" or node.module.startswith("otter.")):
                base = node.module[len("otter") :].lstrip(".") or None
            else:
                continue
            if base is None:
                # `from . import x` / `from otter import x`: x is a submodule or a name of the facade.
                for alias in node.names:
                    found.append((node.lineno, alias.name if (OTTER / f"{alias.name}.py").is_file() else FACADE))
            else:
                found.append((node.lineno, base.split(".")[0]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "otter":
                    found.append((node.lineno, FACADE))
                elif alias.name.startswith("otter."):
                    found.append((node.lineno, alias.name.split(".")[1]))
    return found


MODULES = sorted(p.stem for p in OTTER.glob("*.py") if p.stem != FACADE)


def test_every_module_has_a_floor():
    missing = [m for m in MODULES if m not in FLOORS]
    assert not missing, f"put otter/{missing[0]}.py on a floor in FLOORS (tests/test_layers.py) and the README"


@pytest.mark.parametrize("module", MODULES)
def test_imports_go_only_downward(module):
    if module not in FLOORS:
        pytest.skip(f"otter/{module}.py has no floor yet (test_every_module_has_a_floor fails)")
    floor = FLOORS[module]
    for line, target in otter_imports(OTTER / f"{module}.py"):
        assert target != FACADE, f"otter/{module}.py:{line} imports the package facade; import the module that defines the name"
        assert target in FLOORS, f"otter/{module}.py:{line} imports otter.{target}, which has no floor"
        assert FLOORS[target] <= floor, (
            f"otter/{module}.py:{line} (floor {floor}) imports otter.{target} (floor {FLOORS[target]}): "
            "an upward import; move the shared code down a floor"
        )


def test_the_import_graph_has_no_cycle():
    # Modules on one floor may import each other one way; this catches the other way round.
    graph = {m: {t for _, t in otter_imports(OTTER / f"{m}.py") if t != FACADE} for m in MODULES}
    state = {}

    def visit(node, path):
        if state.get(node) == "open":
            cycle = path[path.index(node) :] + [node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if state.get(node) == "done":
            return
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, path + [node])
        state[node] = "done"

    for m in MODULES:
        visit(m, [])


def test_the_checker_sees_an_upward_import(tmp_path):
    # The parser must see imports inside functions and both spellings, or the tests above prove nothing.
    source = tmp_path / "x.py"
    source.write_text("from .errors import E\ndef f():\n    from .build import g\n    import otter.cli\n    from otter import registry\n")
    assert [t for _, t in otter_imports(source)] == ["errors", "build", "cli", "registry"]


def test_no_module_is_past_the_size_guide():
    # A module past ~450 lines usually holds two concerns.
    long = {p.name: n for p in OTTER.glob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > 480}
    assert not long, f"split by concern: {long}"
