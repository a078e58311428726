"""The import graph follows the layers, has no cycle, and the core does no I/O.

    core (reading, events, errors, keys, operators, masking, message, decoder, link/, dlms/,
          cosem/, oms/)
      <- capture/, sim/, i18n/, extras  pure helpers: capture format and redaction, the simulator,
                                        the gettext catalogues, which extra brings which package
      <- sources/, sinks/, history/,    bytes in, readings out, the stored history, the fleet's
         fleet/                         collector
      <- live/, service/                keep reading a meter, run the outputs
      <- web/, cli/                     what people use

A module may import from its own layer or lower ones, never higher; no two modules import
each other, even through others or through a function-local import. The core modules also
import no I/O (STYLE.md: sans-I/O, after h11) and no gettext: they write English messages
(``message.N_``/``Message``) that the layers above translate.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "smartmeter_readout"
LAYERS: list[set[str]] = [
    {"__init__", "reading", "events", "errors", "keys", "operators", "masking", "message",
     "decoder", "wireless", "link", "dlms", "cosem", "oms"},
    {"capture", "sim", "i18n", "extras"},
    {"sources", "sinks", "history", "fleet"},
    {"live", "service"},
    {"web", "cli", "__main__"},
]
LAYER_OF = {unit: number for number, units in enumerate(LAYERS) for unit in units}
FORBIDDEN_IN_CORE = {"asyncio", "serial", "socket", "sqlite3", "logging", "subprocess", "os",
                     "io", "pathlib", "time", "threading", "urllib", "http", "select", "gettext"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(module: str) -> bool:
    base = PACKAGE.joinpath(*module.split(".")) if module else PACKAGE
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """Every module of the package that ``path`` imports (function-local imports too)."""
    module = _module(path)
    package = module.split(".") if module else []
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                child = f"{target}.{alias.name}" if target else alias.name
                found.add(child if _exists(child) else target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "smartmeter_readout"):
            found.add(node.module.removeprefix("smartmeter_readout").lstrip("."))
    return found - {module}


def _unit(module: str) -> str:
    return module.split(".", maxsplit=1)[0] if module else "__init__"


GRAPH = {_module(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_package_has_a_layer() -> None:
    assert {_unit(module) for module in GRAPH} <= set(LAYER_OF)


def test_no_import_against_the_layers() -> None:
    wrong = [f"{module} -> {target}" for module, targets in GRAPH.items() for target in targets
             if LAYER_OF[_unit(target)] > LAYER_OF[_unit(module)]]
    assert wrong == []


def test_no_import_cycle() -> None:
    cycles = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if LAYER_OF[_unit(m)] == 0))
def test_the_core_does_no_io(module: str) -> None:
    path = PACKAGE.joinpath(*module.split(".")) if module else PACKAGE
    path = path.with_suffix(".py") if path.with_suffix(".py").is_file() else path / "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_IN_CORE, (module, name)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("open", "print"), (module, node.func.id)
