"""German for the messages below the command line: configuration errors, source errors, the
decoder's events and errors, outputs and history. The core writes English ``Message`` values
(template and parameters) and loads no catalogue; the layers that show them translate them
with ``i18n.localize``; the program's own layers speak the environment's language."""

from __future__ import annotations

import pickle
import string
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from smartmeter_readout.decoder import Decoder
from smartmeter_readout.errors import DecodeError, KeyFormatError
from smartmeter_readout.events import EventKind
from smartmeter_readout.i18n import LOCALE_DIR, _, localize, translation
from smartmeter_readout.keys import parse_key
from smartmeter_readout.message import N_, Message
from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sources.base import SourceFatal, SourceUnavailable
from smartmeter_readout.sources.serial import open_error

GERMAN = translation("de")
KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
WRONG_KEY = bytes.fromhex("F0E0D0C0B0A090807060504030201000")
WRONG_KEY_TEXT = ("decryption gives no valid data: the key is wrong (check it against the one "
                  "from your grid operator's portal or letter)")


def _run(args: list[str], lang: str) -> subprocess.CompletedProcess[str]:
    from livekit import CLI, ENV

    env = {**ENV, "LANGUAGE": lang, "LC_ALL": "", "LC_MESSAGES": "",
           "LANG": "de_AT.UTF-8" if lang == "de" else "C.UTF-8"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


# ------------------------------------------------------------------ configuration errors


def test_a_config_error_comes_out_in_german(tmp_path: Path) -> None:
    config = tmp_path / "smartmeter.toml"
    config.write_text('[source]\nsimulate = "vkw"\nspeeed = 2\n')
    german = _run(["run", "--config", str(config)], "de")
    assert german.returncode == 2, german.stderr
    assert "unbekannter Eintrag 'speeed' in [source] (meinten Sie 'speed'?)" in german.stderr
    assert "gültige Einträge sind port, tcp" in german.stderr
    english = _run(["run", "--config", str(config)], "en")
    assert english.returncode == 2
    assert "unknown key 'speeed' in [source] (did you mean 'speed'?)" in english.stderr


def test_a_core_error_inside_a_config_error_is_german_too(tmp_path: Path) -> None:
    config = tmp_path / "smartmeter.toml"
    config.write_text('[meter]\nkey = "0011"\n[source]\nsimulate = "vkw"\n')
    config.chmod(0o600)
    german = _run(["run", "--config", str(config)], "de")
    assert german.returncode == 2
    assert "[meter] der Schlüssel muss 32 Hex-Ziffern (16 Bytes) lang sein" in german.stderr
    assert "0011" not in german.stderr  # never the key


def test_config_errors_made_in_the_english_environment_translate_later() -> None:
    from smartmeter_readout.errors import ConfigError
    from smartmeter_readout.service.config import load_config

    with pytest.raises(ConfigError) as caught:
        load_config(env={"SMARTMETER_SOURCE_BAUD": "fast", "SMARTMETER_SOURCE_SIMULATE": "vkw"})
    assert str(caught.value) == ('[source] baud = \'fast\' is not valid: use "auto" or a rate '
                                 "such as 2400")
    assert localize(caught.value, GERMAN) == ('[source] baud = \'fast\' ist ungültig: "auto" '
                                              "oder eine Rate wie 2400 verwenden")


# ------------------------------------------------------------------ source errors


def test_serial_permission_denied_in_german() -> None:
    error = open_error("/dev/ttyUSB0", PermissionError(13, "Permission denied"))
    assert isinstance(error, SourceFatal)
    assert str(error).startswith("permission denied on /dev/ttyUSB0: add your user")
    german = localize(error, GERMAN)
    assert german.startswith("keine Berechtigung für /dev/ttyUSB0: fügen Sie Ihren Benutzer "
                             "der Gruppe dialout hinzu")
    assert "(sudo usermod -aG dialout $USER, dann ab- und wieder anmelden)" in german


def test_serial_adapter_not_there_in_german(tmp_path: Path) -> None:
    port = str(tmp_path / "ttyUSB7")
    error = open_error(port, FileNotFoundError(2, "No such file or directory"))
    assert isinstance(error, SourceUnavailable)
    assert localize(error, GERMAN) == (
        f"{port} ist nicht vorhanden: ist der Adapter angesteckt? (ls /dev/serial/by-id listet "
        "die angeschlossenen Adapter auf)")
    assert localize(error, translation("en")) == str(error)


# ------------------------------------------------------------------ the decoder


def test_a_wrong_key_event_in_german_and_english() -> None:
    push = Simulator("vkw", key=KEY).push(datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
    decoder = Decoder(WRONG_KEY)
    assert decoder.feed(push.wire) == []
    [event] = decoder.take_events()
    assert event.kind is EventKind.WRONG_KEY
    assert event.message == WRONG_KEY_TEXT
    assert str(event) == WRONG_KEY_TEXT
    assert localize(event, GERMAN) == (
        "die Entschlüsselung ergibt keine gültigen Daten: der Schlüssel ist falsch (prüfen Sie "
        "ihn anhand des Schlüssels aus dem Portal oder Brief Ihres Netzbetreibers)")
    assert localize(event) == WRONG_KEY_TEXT  # the tests run in English
    assert localize(EventKind.WRONG_KEY.label, GERMAN) == \
        "Telegramme, die der Schlüssel nicht entschlüsselt"


def test_the_key_missing_event_says_where_the_key_comes_from_in_german() -> None:
    push = Simulator("vkw", key=KEY).push(datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
    decoder = Decoder()
    decoder.feed(push.wire)
    [event] = decoder.take_events()
    assert event.kind is EventKind.KEY_MISSING
    german = localize(event, GERMAN)
    assert "Netzbetreiber" in german and "--key" in german and "SMARTMETER_KEY" in german


def test_parameters_are_formatted_into_the_translation() -> None:
    error = DecodeError(N_("{count} unexpected bytes after the notification"), count=3)
    assert str(error) == "3 unexpected bytes after the notification"
    assert localize(error, GERMAN) == "3 unerwartete Bytes nach der Notification"
    with pytest.raises(KeyFormatError) as caught:
        parse_key("00" * 15, what=N_("authentication key"))
    assert str(caught.value).startswith("the authentication key must be 32 hex digits")
    assert localize(caught.value, GERMAN).startswith(
        "der Authentifizierungsschlüssel muss 32 Hex-Ziffern")


def test_nested_messages_translate_with_the_outer_one() -> None:
    finding = Message(N_("{factor:g}x too small"), factor=10.0)
    outer = Message(N_("voltage {obis} = {volts:g} V is no mains voltage: it looks {how}"),
                    obis="1.0.32.7.0.255", volts=23.1, how=finding)
    assert outer == "voltage 1.0.32.7.0.255 = 23.1 V is no mains voltage: it looks 10x too small"
    assert localize(outer, GERMAN) == (
        "Spannung 1.0.32.7.0.255 = 23.1 V ist keine Netzspannung: sie scheint 10-fach zu klein")


def test_errors_survive_pickling_with_their_template() -> None:
    error = DecodeError(N_("{count} unexpected bytes after the notification"), count=3)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is DecodeError and str(again) == str(error)
    assert localize(again, GERMAN) == "3 unerwartete Bytes nach der Notification"


def test_a_message_without_parameters_keeps_its_braces() -> None:
    assert Message("a {literal} text") == "a {literal} text"
    assert str(DecodeError("a {literal} text")) == "a {literal} text"


def test_the_environments_language_is_kept_apart_from_the_template() -> None:
    made = _("{port} is not there: is the adapter plugged in? (ls /dev/serial/by-id lists the "
             "connected adapters)", port="/dev/ttyACM0")
    assert made.startswith("/dev/ttyACM0 is not there")  # English: the tests' language
    assert localize(made, GERMAN).startswith("/dev/ttyACM0 ist nicht vorhanden")


# ------------------------------------------------------------------ the core loads no catalogue

CORE = ["smartmeter_readout.decoder", "smartmeter_readout.errors", "smartmeter_readout.events",
        "smartmeter_readout.keys", "smartmeter_readout.reading", "smartmeter_readout.operators",
        "smartmeter_readout.message", "smartmeter_readout.link.splitter",
        "smartmeter_readout.dlms.security", "smartmeter_readout.cosem.layouts",
        "smartmeter_readout.oms.records"]


def test_the_core_imports_neither_gettext_nor_the_catalogues() -> None:
    probe = (
        "import sys\n"
        f"for name in {CORE!r}:\n"
        "    __import__(name)\n"
        "from smartmeter_readout import Decoder\n"
        "Decoder(bytes(16)).feed(bytes.fromhex('68fafa68'))\n"
        "loaded = sorted(m for m in sys.modules if m == 'gettext' or 'i18n' in m)\n"
        "print(','.join(loaded))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"the core loaded {result.stdout.strip()}"


# ------------------------------------------------------------------ the catalogue


def _fields(text: str) -> list[tuple[str, str, str]]:
    return sorted((name, spec or "", conversion or "")
                  for _, name, spec, conversion in string.Formatter().parse(text)
                  if name is not None)


@pytest.mark.parametrize("lang", ["en", "de"])
def test_placeholders_survive_translation_in_the_program(lang: str) -> None:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "smartmeter_readout.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=lang)
    broken = [message.id for message in catalog if message.id and message.string
              and "{" in str(message.id) + str(message.string)
              and _fields(str(message.id)) != _fields(str(message.string))]
    assert broken == []
