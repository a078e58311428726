#!/usr/bin/env python3
"""Keep the gettext catalogues in step with the code (needs Babel: the dev extra).

    .venv/bin/python scripts/i18n.py          # extract, update the .po files, compile
    .venv/bin/python scripts/i18n.py --check  # only say what is missing or out of date

Messages come from ``_()`` and ``N_()`` in the Python code (domain ``smartmeter_readout``;
the core marks its English messages with the catalogue-free ``smartmeter_readout.message.N_``)
and from ``t()``/``tf()`` in the pages' scripts and ``data-t``/``data-t-label``/``data-t-title``
in its HTML (domain ``page``). Each ``.po`` is compiled: the program's to ``.mo`` beside it,
the page's to ``web/static/locale/<lang>.json``. English is the language of the messages; its
catalogue says so message by message, so "complete in both languages" can be checked.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_javascript, extract_python
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "smartmeter_readout"
LOCALE = PACKAGE / "i18n" / "locale"
STATIC = PACKAGE / "web" / "static"
LANGUAGES = ("en", "de")
_HTML = re.compile(r'data-t(?:-label|-title)?="([^"]+)"')


def _first(message: str | tuple[str | None, ...]) -> str | None:
    return message[0] if isinstance(message, tuple) else message


def program_messages() -> dict[str, list[str]]:
    """msgid -> where (file:line), from _() and N_() in the package's Python code."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        with path.open("rb") as source:
            for line, _, message, _ in extract_python(source, ["_", "N_"], [], {}):
                text = _first(message)
                if text:
                    found.setdefault(text, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def page_messages() -> dict[str, list[str]]:
    """msgid -> where, from the page's script and HTML."""
    found: dict[str, list[str]] = {}
    for script in sorted(STATIC.glob("*.js")):
        with script.open("rb") as source:
            for line, _, message, _ in extract_javascript(source, ["t", "tf"], [],
                                                          {"parse_template_string": True}):
                text = _first(message)
                if text:
                    found.setdefault(text, []).append(f"{script.relative_to(ROOT)}:{line}")
    for page in sorted(STATIC.glob("*.html")):
        for number, text in enumerate(page.read_text().splitlines(), start=1):
            for message in _HTML.findall(text):
                found.setdefault(message, []).append(f"{page.relative_to(ROOT)}:{number}")
    return found


def po_path(domain: str, lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{domain}.po"


def read_catalog(domain: str, lang: str) -> Catalog:
    path = po_path(domain, lang)
    if not path.exists():
        return Catalog(locale=lang, domain=domain, project="smartmeter-readout")
    with path.open("rb") as source:
        return read_po(source, locale=lang, domain=domain)


def problems(domain: str, lang: str, messages: dict[str, list[str]]) -> list[str]:
    """What is missing or left over in one catalogue."""
    catalog = read_catalog(domain, lang)
    have = {m.id: m for m in catalog if m.id}
    found = [f"{domain}/{lang}: missing {m!r} ({messages[m][0]})"
             for m in messages if m not in have or not have[m].string]
    found += [f"{domain}/{lang}: fuzzy {m!r}" for m in messages
              if m in have and have[m].fuzzy]
    found += [f"{domain}/{lang}: no longer used {m!r}" for m in have if m not in messages]
    return found


def update(domain: str, lang: str, messages: dict[str, list[str]]) -> None:
    """Add new messages (English: translated as themselves), drop unused ones."""
    old = read_catalog(domain, lang)
    catalog = Catalog(locale=lang, domain=domain, project="smartmeter-readout",
                      header_comment=f"# {domain}: {lang}", fuzzy=False,
                      creation_date=old.creation_date, revision_date=old.revision_date)
    for message, where in sorted(messages.items()):
        previous = old.get(message)
        string = previous.string if previous is not None and previous.string else (
            message if lang == "en" else "")
        catalog.add(message, string, locations=[(w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1]))
                                                for w in where])
    path = po_path(domain, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalog, width=100, omit_header=False, sort_output=True)


def compiled_mo(domain: str, lang: str) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(domain, lang))
    return buffer.getvalue()


def compiled_json(lang: str) -> str:
    catalog = read_catalog("page", lang)
    table = {m.id: m.string for m in catalog if m.id and m.string}
    return json.dumps(dict(sorted(table.items())), ensure_ascii=False, indent=0) + "\n"


def outputs() -> dict[Path, bytes]:
    """Every compiled file and what it must hold."""
    files: dict[Path, bytes] = {}
    for lang in LANGUAGES:
        files[po_path("smartmeter_readout", lang).with_suffix(".mo")] = compiled_mo(
            "smartmeter_readout", lang)
        files[STATIC / "locale" / f"{lang}.json"] = compiled_json(lang).encode()
    return files


def main(argv: list[str]) -> int:
    sources = {"smartmeter_readout": program_messages(), "page": page_messages()}
    if "--check" not in argv:
        for domain, messages in sources.items():
            for lang in LANGUAGES:
                update(domain, lang, messages)
        for path, content in outputs().items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    found = [p for domain, messages in sources.items() for lang in LANGUAGES
             for p in problems(domain, lang, messages)]
    found += [f"{path.relative_to(ROOT)} is out of date: run scripts/i18n.py"
              for path, content in outputs().items()
              if not path.exists() or path.read_bytes() != content]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
