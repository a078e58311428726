"""``read``, ``record`` and ``doctor`` with ``--meter NAME``: the meter's source and key from
a ``[[meters]]`` config (issue 22 item 5), over pseudo-terminals with two simulated meters of
different keys; and the config rules behind it (``load_config(one_meter=True)``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from livekit import KEY, WRONG_KEY, jsonl, run, simulator
from smartmeter_readout.errors import ConfigError
from smartmeter_readout.service.config import load_config

OTHER_KEY = WRONG_KEY  # the second meter's own key: the first one's does not decrypt it
VKW_ID, NOE_ID = "1KFM0200014196", "181220000009"  # the two profiles' meter numbers


def _config(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def two_meters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """Two simulated meters, each with its own key, and a config naming both."""
    folder = tmp_path_factory.mktemp("meters")
    top, pv = folder / "ttyTOP", folder / "ttyPV"
    with ExitStack() as stack:
        stack.enter_context(simulator(top, "vkw", key=KEY))
        stack.enter_context(simulator(pv, "netznoe", key=OTHER_KEY))
        config = _config(folder / "meters.toml", f"""
[meter]
timezone = "Europe/Vienna"

[[meters]]
name = "Top 3"
port = "{top}"
key = "{KEY}"
operator = "vkw"

[[meters]]
name = "PV"
port = "{pv}"
key = "{OTHER_KEY}"
operator = "netznoe"
""")
        yield config, top, pv


def _readings(result: Any) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return jsonl(result.stdout)


def test_read_takes_the_named_meters_source_and_key(two_meters: tuple[Path, Path, Path]
                                                    ) -> None:
    config, _top, _pv = two_meters
    pv = _readings(run(["read", "--config", config, "--meter", "PV", "--count", "2",
                        "--format", "jsonl"]))
    assert len(pv) == 2
    assert {r["meter"]["id"] for r in pv} == {NOE_ID}  # decrypted with PV's own key
    assert {r["meter"]["name"] for r in pv} == {"PV"}  # named as the service names it
    # the name as it stands in topics and ids finds the meter too
    top = _readings(run(["read", "--config", config, "--meter", "top_3", "--count", "1",
                         "--format", "jsonl"]))
    assert top[0]["meter"]["id"] == VKW_ID and top[0]["meter"]["name"] == "Top 3"


def test_without_meter_several_meters_are_one_sentence_naming_them(
        two_meters: tuple[Path, Path, Path]) -> None:
    config, _top, _pv = two_meters
    for args in (["read", "--config", config], ["record", "--config", config, "-o", "x.txt"],
                 ["doctor", "--config", config]):
        result = run(args)
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert "has 2 meters" in line and "--meter" in line, line
        assert "'Top 3'" in line and "'PV'" in line, line
    unknown = run(["read", "--config", config, "--meter", "Garage"])
    assert unknown.returncode == 2
    assert "no meter 'Garage'" in unknown.stderr and "'Top 3', 'PV'" in unknown.stderr
    assert KEY not in unknown.stderr and OTHER_KEY not in unknown.stderr


def test_record_and_doctor_use_the_named_meter(two_meters: tuple[Path, Path, Path],
                                               tmp_path: Path) -> None:
    config, top, pv = two_meters
    capture = tmp_path / "pv.txt"
    # --redact needs the key: it can only have come from PV's table
    recorded = run(["record", "--config", config, "--meter", "PV", "--count", "2",
                    "--output", capture, "--redact"])
    assert recorded.returncode == 0, recorded.stderr
    assert f"# source: {pv}" in capture.read_text()
    decoded = _readings(run(["decode", capture, "--key", OTHER_KEY, "--format", "jsonl"]))
    assert decoded and NOE_ID not in capture.read_text()  # redacted, decodable with PV's key
    assert KEY not in capture.read_text() and OTHER_KEY not in capture.read_text()

    doctor = run(["doctor", "--config", config, "--meter", "Top 3", "--timeout", "20"])
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "Verdict: Everything works" in doctor.stdout
    assert f'port = "{top}"' in doctor.stdout  # the config lines name its port
    assert KEY not in doctor.stdout + doctor.stderr


def test_flags_beside_the_config_win(two_meters: tuple[Path, Path, Path]) -> None:
    """--port and --key name another meter than the table's: they are read."""
    config, top, _pv = two_meters
    readings = _readings(run(["read", "--config", config, "--meter", "PV", "--port", top,
                              "--key", KEY, "--count", "1", "--format", "jsonl"]))
    assert readings[0]["meter"]["id"] == VKW_ID


def test_a_config_of_one_meter_needs_no_meter_flag(two_meters: tuple[Path, Path, Path],
                                                   tmp_path: Path) -> None:
    _config_path, _top, pv = two_meters
    one = _config(tmp_path / "one.toml", f"""
[[meters]]
name = "PV"
port = "{pv}"
key = "{OTHER_KEY}"
""")
    readings = _readings(run(["read", "--config", one, "--count", "1", "--format", "jsonl"]))
    assert readings[0]["meter"]["id"] == NOE_ID
    # a [meter] / [source] config as the service reads it: no --port needed either
    plain = _config(tmp_path / "plain.toml", f'[meter]\nkey = "{OTHER_KEY}"\n\n'
                    f'[source]\nport = "{pv}"\n')
    readings = _readings(run(["read", "--config", plain, "--count", "1", "--format", "jsonl"]))
    assert readings[0]["meter"]["id"] == NOE_ID
    assert "name" not in readings[0]["meter"] or readings[0]["meter"]["name"] is None
    # without a config and a source flag: argparse's own sentence, as before
    bare = run(["read"])
    assert bare.returncode == 2
    assert "one of the arguments --port --tcp --command --replay is required" in bare.stderr


# ------------------------------------------------------------------ the config rules


def _one(tmp_path: Path, text: str, meter: str | None = None, **kwargs: Any) -> Any:
    path = _config(tmp_path / "c.toml", text)
    return load_config(path, env={}, one_meter=True, meter=meter, **kwargs)


TWO = f"""
[meter]
key_file = "/nonexistent/shared.key"

[[meters]]
name = "Top 3"
port = "/dev/ttyUSB0"
key = "{KEY}"

[[meters]]
name = "PV"
tcp = "192.0.2.7:8888"
baud = 9600
"""


def test_the_named_table_becomes_the_meter_and_source(tmp_path: Path) -> None:
    top = _one(tmp_path, TWO, "Top 3")
    assert top.meters == ()  # one meter now
    assert top["meter"]["name"] == "Top 3" and top["source"]["port"] == "/dev/ttyUSB0"
    assert top["meter"]["key"] == KEY and top["meter"]["key_file"] is None  # its own key wins
    pv = _one(tmp_path, TWO, "pv")  # letters and digits decide, as in topics
    assert pv["source"]["tcp"] == "192.0.2.7:8888" and pv["source"]["baud"] == 9600
    assert pv["meter"]["key_file"] == "/nonexistent/shared.key"  # the shared one


def test_flags_replace_the_tables_source_and_key(tmp_path: Path) -> None:
    flags = {"source": {"port": "/dev/ttyACM0"}, "meter": {"key_file": "/tmp/k"}}
    top = _one(tmp_path, TWO, "Top 3", overrides=flags)
    assert top["source"]["port"] == "/dev/ttyACM0" and top["meter"]["key"] is None
    assert top["meter"]["key_file"] == "/tmp/k"
    pv = _one(tmp_path, TWO, "PV", overrides={"source": {"port": "/dev/ttyACM0"}})
    assert pv["source"]["tcp"] is None and pv["source"]["port"] == "/dev/ttyACM0"


def test_flags_that_name_the_source_need_no_meter_flag(tmp_path: Path) -> None:
    """``read --port DEV --key K --config FILE`` (for its layouts, its time zone) reads as it
    did before ``--meter``: the flags name the meter, what the meters share applies."""
    config = _one(tmp_path, TWO, overrides={"source": {"port": "/dev/ttyACM0"},
                                            "meter": {"key": KEY}})
    assert config["source"]["port"] == "/dev/ttyACM0" and config["meter"]["name"] == ""
    assert config["meter"]["key"] == KEY and config["meter"]["key_file"] is None
    with pytest.raises(ConfigError, match=r"both read /dev/ttyUSB0"):  # still checked
        _one(tmp_path, TWO.replace('tcp = "192.0.2.7:8888"', 'port = "/dev/ttyUSB0"'),
             overrides={"source": {"port": "/dev/ttyACM0"}})


def test_the_meter_flag_explains_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"has 2 meters: say which one with --meter NAME, "
                                          r"one of 'Top 3', 'PV'"):
        _one(tmp_path, TWO)
    with pytest.raises(ConfigError, match=r"has no meter 'Garage'; its meters are 'Top 3', "
                                          r"'PV'"):
        _one(tmp_path, TWO, "Garage")
    with pytest.raises(ConfigError, match=r"needs --config"):
        load_config(None, env={}, one_meter=True, meter="PV")
    with pytest.raises(ConfigError, match=r"names no meters"):
        _one(tmp_path, '[source]\nport = "/dev/ttyUSB0"\n', "PV")
    named = _one(tmp_path, '[meter]\nname = "Haus"\n[source]\nport = "/dev/ttyUSB0"\n', "haus")
    assert named["meter"]["name"] == "Haus"
    # every table is checked as run checks them, not only the one asked for
    with pytest.raises(ConfigError, match=r"both read /dev/ttyUSB0"):
        _one(tmp_path, TWO.replace('tcp = "192.0.2.7:8888"', 'port = "/dev/ttyUSB0"'), "PV")
    # and run still reads them all
    every = load_config(_config(tmp_path / "c.toml", TWO), env={})
    assert [m["meter"]["name"] for m in every.meters] == ["Top 3", "PV"]
