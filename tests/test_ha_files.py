"""The integration's files as HACS and Home Assistant read them: the manifest names this
package at its own version, hacs.json sits at the root, and every screen text exists in
English and German with the same placeholders (a missing one shows as a raw key)."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

from smartmeter_readout import __version__

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "smartmeter_readout"


def leaves(tree: Any, path: str = "") -> dict[str, str]:
    if isinstance(tree, dict):
        found: dict[str, str] = {}
        for key, value in tree.items():
            found.update(leaves(value, f"{path}/{key}"))
        return found
    return {path: tree}


def placeholders(text: str) -> set[str]:
    return {name for _t, name, _f, _c in string.Formatter().parse(text) if name}


def test_manifest_and_hacs() -> None:
    manifest = json.loads((COMPONENT / "manifest.json").read_text())
    assert manifest["domain"] == COMPONENT.name
    assert manifest["config_flow"] is True and manifest["iot_class"] == "local_push"
    assert manifest["version"] == __version__
    assert manifest["requirements"] == [f"smartmeter-readout=={__version__}"]
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["homeassistant"] == "2024.3.0" and hacs["name"]
    assert not (COMPONENT / "smartmeter_readout").exists()  # no copy of the package


def test_every_text_in_english_and_german_with_the_same_placeholders() -> None:
    strings = json.loads((COMPONENT / "strings.json").read_text())
    english = json.loads((COMPONENT / "translations" / "en.json").read_text())
    german = leaves(json.loads((COMPONENT / "translations" / "de.json").read_text()))
    assert english == strings
    source = leaves(strings)
    assert set(german) == set(source)
    for key, text in source.items():
        assert placeholders(german[key]) == placeholders(text), key
        words = re.sub(r"\{\w+\}", "", text)
        assert german[key] != text or not re.search(r"[a-z]{4}", words), key  # translated


def test_each_step_and_error_the_code_uses_has_its_text() -> None:
    code = "".join(path.read_text() for path in COMPONENT.glob("*.py"))
    texts = leaves(json.loads((COMPONENT / "strings.json").read_text()))
    progress = set(re.findall(r'progress_action="(\w+)"', code))
    for action in progress:
        assert f"/config/progress/{action}" in texts, action
    for step in set(re.findall(r'step_id="(\w+)"', code)) - progress:
        flow = "options" if step == "init" else "config"
        assert f"/{flow}/step/{step}/title" in texts, step
    for error in set(re.findall(r'"(invalid_\w+)"', code)):
        assert any(key.endswith(f"/error/{error}") for key in texts), error
    for issue in set(re.findall(r'translation_key="(\w+)"', code)):
        assert f"/issues/{issue}/title" in texts and f"/issues/{issue}/description" in texts
