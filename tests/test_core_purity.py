"""The sans-I/O core imports no I/O, no asyncio, no logging (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "src" / "smartmeter_readout"
CORE_FILES = [*CORE.glob("link/*.py"), *CORE.glob("dlms/*.py"), *CORE.glob("cosem/*.py"),
              CORE / "decoder.py", CORE / "reading.py", CORE / "keys.py",
              CORE / "events.py", CORE / "errors.py", CORE / "live" / "detect.py",
              CORE / "capture" / "redact.py", CORE / "capture" / "format.py",
              CORE / "sim" / "faults.py", CORE / "operators.py"]
FORBIDDEN = {"asyncio", "serial", "socket", "sqlite3", "logging", "subprocess", "os", "io",
             "pathlib", "time", "threading", "urllib", "http", "select"}


def test_core_modules_do_no_io() -> None:
    for path in CORE_FILES:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, (path.name, name)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("open", "print"):
                raise AssertionError(f"{path.name} calls {node.func.id}")  # type: ignore[attr-defined]
