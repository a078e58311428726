"""The test command's own checks: one list of Debian packages, and a missing library named."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bash(script: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=60)


def test_one_list_of_debian_packages_for_both_scripts_and_the_readme() -> None:
    listed = _bash("source scripts/_setup.sh; debian_packages test").stdout.split()
    assert {"mosquitto", "influxdb", "postgresql", "chromium", "libatomic1", "gcc",
            "libc6-dev", "python3-venv"} <= set(listed)
    assert _bash("source scripts/_setup.sh; debian_packages demo").stdout.split() == [
        "python3-venv"]
    readme = (ROOT / "README.md").read_text()
    assert "scripts/debian-packages" in readme
    for script in ("scripts/test", "scripts/demo"):
        text = (ROOT / script).read_text()
        assert "ensure_debian_packages" in text and "apt-get install" not in text


@pytest.mark.parametrize(("soname", "package"), [
    ("libatomic.so.1", "libatomic1"), ("libasound.so.2", "libasound2"),
    ("libnss3.so", "libnss3"), ("libgtk-3.so.0", "libgtk-3-0")])
def test_a_missing_library_is_named_with_its_debian_package(soname: str, package: str) -> None:
    found = _bash('eval "$(sed -n "/^package_of() {/,/^}/p" scripts/check-test-deps)"; '
                  f"package_of {soname}")
    assert found.stdout.strip() == package


def test_a_binary_whose_library_is_gone_fails_the_check_with_one_sentence(
        tmp_path: Path) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler is not None, "the check's own test needs a C compiler (Debian gcc)"
    (tmp_path / "zz.c").write_text("int zz(void) { return 1; }\n")
    (tmp_path / "main.c").write_text("int zz(void); int main(void) { return zz(); }\n")
    subprocess.run([compiler, "-shared", "-fPIC", "-o", "libzz.so.1", "zz.c"], cwd=tmp_path,
                   check=True)
    subprocess.run([compiler, "main.c", "-o", "needs-zz", "-L.", "-l:libzz.so.1"],
                   cwd=tmp_path, check=True)
    (tmp_path / "libzz.so.1").unlink()  # as on a machine without the package
    checked = _bash('eval "$(sed -n "/^say() {/,/^}/p;/^package_of() {/,/^}/p;'
                    '/^libraries() {/,/^}/p" scripts/check-test-deps)"; problems=0; '
                    f'libraries "the driver" {tmp_path / "needs-zz"}')
    assert "missing Debian package libzz1: the driver" in checked.stderr
    assert "libzz.so.1" in checked.stderr and "apt-get install libzz1" in checked.stderr
