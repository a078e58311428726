"""Every module imports with exactly the extras it needs: the page must not need psycopg, the
service must not need aiohttp. Each installed combination of extras is imitated by a finder
that hides the other extras' packages, in a fresh interpreter, and every module whose needs
are met is imported there. A module that needs an extra says so in ``NEEDS``; anything else
must import on a bare install.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from smartmeter_readout.extras import EXTRAS

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "smartmeter_readout"

# modules (and packages, for everything below them) and the extras they need to import
NEEDS: dict[str, frozenset[str]] = {
    "smartmeter_readout.web": frozenset({"web"}),
    "smartmeter_readout.web.fleet": frozenset({"web", "postgres"}),
    "smartmeter_readout.sinks.mqtt": frozenset({"mqtt"}),
    "smartmeter_readout.sinks.postgres": frozenset({"postgres"}),
    "smartmeter_readout.sim.fleet_load": frozenset({"mqtt"}),
    "smartmeter_readout.fleet.collector": frozenset({"mqtt", "postgres"}),
    "smartmeter_readout.fleet.rows": frozenset({"postgres"}),  # msgspec
    "smartmeter_readout.fleet.store": frozenset({"postgres"}),
    "smartmeter_readout.fleet.view": frozenset({"postgres"}),
}


def _modules() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["smartmeter_readout", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__main__":
            continue
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def needs(module: str) -> frozenset[str]:
    wanted: frozenset[str] = frozenset()
    for prefix, extras in NEEDS.items():
        if module == prefix or module.startswith(prefix + "."):
            wanted |= extras
    return wanted


HIDE = textwrap.dedent("""
    import importlib, sys
    hidden = set(sys.argv[1].split(",")) - {""}
    class Hide:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in hidden:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Hide())
    failed = []
    for module in sys.argv[2:]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            failed.append(f"{module}: {exc}")
    print("\\n".join(failed))
""")

EXTRA_NAMES = sorted({extra for extra, _packages in EXTRAS.values()})
COMBINATIONS = [frozenset(c) for n in range(len(EXTRA_NAMES) + 1)
                for c in itertools.combinations(EXTRA_NAMES, n)]


@pytest.mark.parametrize("installed", COMBINATIONS,
                         ids=lambda c: "+".join(sorted(c)) or "bare")
def test_every_module_imports_with_the_extras_it_needs_and_no_more(
        installed: frozenset[str]) -> None:
    hidden = {package for package, (extra, _) in EXTRAS.items() if extra not in installed}
    modules = [m for m in _modules() if needs(m) <= installed]
    done = subprocess.run([sys.executable, "-c", HIDE, ",".join(sorted(hidden)), *modules],
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "", done.stdout


def test_the_table_of_needs_names_real_modules() -> None:
    modules = _modules()
    for prefix in NEEDS:
        assert any(m == prefix or m.startswith(prefix + ".") for m in modules), prefix
