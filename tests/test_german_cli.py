"""A household that speaks German (``LANG=de_AT.UTF-8``) reads no English sentence on the
command line: every command's ``--help``, argparse's own errors, and the log lines of ``run``
and ``demo`` (INFO and above). English that slips through is found by its small words, which
German never uses; names in brackets, flags, paths, URLs and units are not prose and are left
out first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

COMMANDS = ("", "decode", "read", "simulate", "record", "replay", "doctor", "run", "demo",
            "history", "collect")
ENGLISH = {"the", "and", "of", "to", "with", "from", "is", "are", "for", "this", "that", "each",
           "every", "when", "which", "default", "seconds", "meter", "readings", "values", "not",
           "only", "or", "by", "it", "its", "be", "into", "after", "before", "than", "then",
           "reading", "page", "stopped", "error", "usage", "options", "arguments", "made-up",
           "outputs", "unrecognized", "required", "invalid", "choose", "expected"}
# not prose: [section] key, --flags, <placeholders>, paths, URLs, KEY=value, quoted config
_CODE = re.compile(r"\[[^\]]*\]|--?[\w-]+|<[^>]*>|\S*/\S*|\w+=\S*|'[^']*'|\"[^\"]*\"|\{[^}]*\}|"
                   r"\$\w+|\b[A-Z_]{2,}\b|\w+_\w+")


def german_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES") and not k.startswith("SMARTMETER")}
    return {**env, "LANG": "de_AT.UTF-8", "SMARTMETER_WEB_PORT": "0"}


def english_words(text: str) -> list[str]:
    prose = _CODE.sub(" ", text)
    return sorted({word for word in re.findall(r"[A-Za-z][\w-]*", prose)
                   if word.lower() in ENGLISH})


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smartmeter_readout", *args],
                          env=german_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_the_check_finds_english() -> None:
    assert english_words("  --count N   stop after this many readings") == [
        "after", "readings", "this"]
    assert english_words("  --count N   nach so vielen Messwerten aufhören ([sqlite] path)") \
        == []


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "main")
def test_help_is_german(command: str) -> None:
    done = cli(*(command,) if command else (), "--help")
    assert done.returncode == 0, done.stderr
    assert "Aufruf:" in done.stdout
    assert english_words(done.stdout) == [], done.stdout


def test_argparse_errors_are_german() -> None:
    done = cli("read", "--port", "/dev/null", "--bogus")
    assert done.returncode == 2
    assert "unbekannte Argumente: --bogus" in done.stderr, done.stderr
    assert english_words(done.stderr) == [], done.stderr
    done = cli("read")
    assert "Fehler:" in done.stderr and english_words(done.stderr) == [], done.stderr


def test_the_log_of_run_and_demo_is_german(tmp_path: object) -> None:
    for args in (("run", "--simulate", "vkw", "--count", "2", "--sqlite", f"{tmp_path}/a.db"),
                 ("demo", "--count", "2", "--web-port", "0", "--history-days", "1",
                  "--interval", "0.5", "--console", "none")):
        done = cli(*args, timeout=120)
        assert done.returncode == 0, done.stderr
        lines = [line.split("smartmeter-readout: ", 1)[1]
                 for line in done.stderr.splitlines() if "smartmeter-readout: " in line]
        assert lines, done.stderr
        assert english_words("\n".join(lines)) == [], done.stderr


def test_tables_for_people_have_decimal_commas_and_programs_keep_the_point() -> None:
    from conftest import BY_ID

    vector = BY_ID["at_netznoe_kaifa_ma309_doc_example"]
    table = cli("decode", vector["hex"], "--key", vector["key"])
    assert table.returncode == 0, table.stderr
    assert "Zählerstand Bezug" in table.stdout and "12,937 kWh" in table.stdout, table.stdout
    for fmt in ("json", "csv"):
        machine = cli("decode", vector["hex"], "--key", vector["key"], "--format", fmt)
        assert "12937" in machine.stdout and "12,937" not in machine.stdout


def test_every_value_has_a_name_for_people() -> None:
    names = ("meter_id", "device_name", "collection_register", "active_power_import_l2",
             "active_energy_export_t1", "power_factor_l3", "obis_1_0_99_1_0")
    done = subprocess.run([sys.executable, "-c", "import sys; from smartmeter_readout.sinks."
                           "formats import label; print('|'.join(map(label, sys.argv[1:])))",
                           *names], env=german_env(), capture_output=True, text=True, check=True)
    assert done.stdout.strip().split("|") == [
        "Zählernummer", "Gerätename", "Inkassozählwerk", "Leistung Bezug L2",
        "Zählerstand Einspeisung T1", "Leistungsfaktor L3", "obis_1_0_99_1_0"]


def test_every_log_line_above_debug_goes_through_the_catalogue() -> None:
    """A log call at INFO or above whose message is a literal (or an f-string) would reach the
    journal in English: each must be ``_()``, a translated variable or ``localize``."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "src" / "smartmeter_readout"
    literal = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("info", "warning", "error", "critical", "exception")
                    and node.args and _words(node.args[0])):
                literal.append(f"{path.relative_to(package)}:{node.lineno}")
    assert literal == []


def _words(node: object) -> bool:
    """A message with words in it that no catalogue saw (``"%s: %s"`` has none)."""
    import ast

    if isinstance(node, ast.Constant):
        text = re.sub(r"%[-+ #0-9.]*[a-z]|\{[^}]*\}", "", str(node.value))
        return isinstance(node.value, str) and any(c.isalpha() for c in text)
    return isinstance(node, ast.JoinedStr | ast.BinOp)
