"""German and English everywhere a person reads: every message of the code is in both
catalogues, none left fuzzy or empty, and the compiled files (.mo, the page's JSON) match
their .po sources. scripts/i18n.py is the tool that keeps them so."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from smartmeter_readout.i18n import LANGUAGES, translation

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "i18n.py"
spec = importlib.util.spec_from_file_location("i18n_tool", SCRIPT)
assert spec is not None and spec.loader is not None
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("domain", ["smartmeter_readout", "page"])
def test_no_message_is_missing_from_either_language(domain: str, lang: str) -> None:
    messages = tool.program_messages() if domain == "smartmeter_readout" else \
        tool.page_messages()
    assert messages, "no messages found: the extraction is broken"
    assert tool.problems(domain, lang, messages) == []


def test_compiled_catalogues_match_their_sources() -> None:
    stale = [str(path) for path, content in tool.outputs().items()
             if not path.exists() or path.read_bytes() != content]
    assert stale == [], "run scripts/i18n.py"


def test_placeholders_survive_translation() -> None:
    for lang in LANGUAGES:
        table = json.loads((tool.STATIC / "locale" / f"{lang}.json").read_text())
        for message, text in table.items():
            wanted = sorted(re.findall(r"\{(\w+)\}", message))
            assert sorted(re.findall(r"\{(\w+)\}", text)) == wanted, (lang, message)


def test_austrian_words_on_the_page() -> None:
    german = json.loads((tool.STATIC / "locale" / "de.json").read_text())
    assert german["Import"] == "Bezug" and german["Export"] == "Einspeisung"
    assert german["Meter readings"] == "Zählerstände"
    assert german["Quarter hours"] == "Viertelstunden"


def test_the_program_speaks_the_language_asked_for() -> None:
    assert translation("de").gettext("Today") == "Heute"
    assert translation("de_AT").gettext("Energy import") == "Zählerstand Bezug"
    assert translation("en").gettext("Today") == "Today"


def test_the_command_line_speaks_german_by_lang(tmp_path: Path) -> None:
    import subprocess

    from conftest import BY_ID
    from livekit import CLI, ENV

    vector = BY_ID["at_vkw_kaifa_ma309_seed_synthetic"]
    german = {**ENV, "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": "de_AT.UTF-8"}
    result = subprocess.run([*CLI, "decode", vector["hex"], "--key", vector["key"]],
                            capture_output=True, text=True, env=german, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Spannung L1" in result.stdout and "Zählerstand Bezug" in result.stdout
    english = subprocess.run([*CLI, "decode", vector["hex"], "--key", vector["key"]],
                             capture_output=True, text=True, env={**ENV, "LANGUAGE": "en"},
                             timeout=60, check=False)
    assert "Voltage L1" in english.stdout
