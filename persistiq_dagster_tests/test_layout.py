"""The layers point one way and no module imports itself back: read from the import lines."""

import ast
from pathlib import Path

import pytest

from persistiq_dagster_tests.dagster_cli import PROJECT_DIR

PACKAGE = PROJECT_DIR / "persistiq_dagster"
# Bottom to top: a module may import its own layer and those below it, never one above.
LAYERS = (
    ("persistiq_dagster.source.catalog",),
    ("persistiq_dagster.config", "persistiq_dagster.__init__"),
    ("persistiq_dagster.source",),
    ("persistiq_dagster.defs",),
    ("persistiq_dagster.cli", "persistiq_dagster.definitions"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 2 else parts)


def layer_of(module: str) -> int:
    """The layer of ``module``: the one whose prefix is longest among those it starts with."""
    matches = [
        (len(prefix), index)
        for index, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1]


def imports_of(path: Path) -> set[str]:
    """The modules ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
PROJECT_IMPORTS = {
    module: {name for name in imports_of(path) if name in MODULES or name == "persistiq_dagster"}
    for module, path in MODULES.items()
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module):
    above = sorted(
        name
        for name in PROJECT_IMPORTS[module]
        if name != "persistiq_dagster" and layer_of(name) > layer_of(module)
    )
    assert not above, f"{module} (layer {layer_of(module)}) imports {above}"


def test_the_source_knows_nothing_of_dagster_and_the_product_nothing_of_the_emulator():
    dagster_in_source = {
        module: sorted(
            name for name in imports_of(path) if name.split(".")[0].startswith("dagster")
        )
        for module, path in MODULES.items()
        if module.startswith("persistiq_dagster.source")
    }
    assert not {module: names for module, names in dagster_in_source.items() if names}
    emulator_users = sorted(
        module
        for module, path in MODULES.items()
        if any(name.split(".")[0] == "persistiq_emulator" for name in imports_of(path))
    )
    assert emulator_users == ["persistiq_dagster.cli.demo"]  # the demo serves it; nothing else


def test_there_is_no_import_cycle():
    graph = {
        module: {name for name in names if name in MODULES}
        for module, names in PROJECT_IMPORTS.items()
    }
    state: dict[str, str] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(graph[module]):
            if state.get(name) == "open":
                cycles.append(path[path.index(name) :] + [name])
            elif name not in state:
                visit(name, [*path, name])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles
