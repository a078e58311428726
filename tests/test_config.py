"""Configuration: file, environment and flags, and the messages for every mistake."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from smartmeter_readout.errors import ConfigError
from smartmeter_readout.service.config import SCHEMA, load_config

KEY = "000102030405060708090A0B0C0D0E0F"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "smartmeter.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_defaults_file_environment_and_flags_in_that_order(tmp_path: Path) -> None:
    path = write(tmp_path, f'[meter]\nkey = "{KEY}"\n[source]\nport = "/dev/ttyUSB0"\n'
                           '[mqtt]\nhost = "broker"\n')
    env = {"SMARTMETER_MQTT_PORT": "1884", "SMARTMETER_MQTT_HOST": "env-broker",
           "SMARTMETER_SQLITE_KEEP_RAW_DAYS": "7.5", "SMARTMETER_MQTT_TLS": "yes",
           "SMARTMETER_DEBUG": "1"}
    config = load_config(path, env=env, overrides={"mqtt": {"host": "flag-broker"}})
    assert config["mqtt"]["host"] == "flag-broker"  # flag beats env beats file
    assert config["mqtt"]["port"] == 1884 and config["mqtt"]["tls"] is True
    assert config["sqlite"]["keep_raw_days"] == 7.5
    assert config["meter"]["timezone"] == "Europe/Vienna"
    assert config.on("mqtt") and config.on("sqlite") and not config.on("postgres")
    assert KEY not in repr(config)


def test_short_key_variables_and_sections_switched_on_by_environment() -> None:
    config = load_config(env={"SMARTMETER_KEY": KEY, "SMARTMETER_INFLUXDB_URL": "http://x"})
    assert config["meter"]["key"] == KEY
    assert config.on("influxdb")


@pytest.mark.parametrize(("text", "message"), [
    ("[mqtt]\nhots = 'x'\n", "unknown key 'hots' in [mqtt] (did you mean 'host'?)"),
    ("[mqttt]\n", "unknown section [mqttt] (did you mean 'mqtt'?)"),
    ("[mqtt]\nport = '1883'\n", "[mqtt] port = '1883' must be a whole number"),
    ("[mqtt]\nport = 0\n", "[mqtt] port = 0 must be at least 1"),
    ("[source]\nparity = 'X'\n", "[source] parity = 'X' is not valid; valid are auto, N, E, O"),
    ("[source]\nport = 'a'\ntcp = 'b:1'\n", "[source] names port and tcp: give exactly one"),
    ("[source]\nbaud = 'fast'\n", "[source] baud = 'fast' is not valid"),
    ("[sqlite]\nenabled = 'no'\n", "[sqlite] enabled = 'no' must be true or false"),
    ("[meter\n", "is not valid TOML"),
])
def test_mistakes_name_key_value_and_what_is_valid(tmp_path: Path, text: str,
                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(write(tmp_path, text), env={})
    assert message in str(caught.value)


def test_secret_values_never_appear_in_messages(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "[mqtt]\npassword = 12345\n"), env={})
    assert "12345" not in str(caught.value) and "***" in str(caught.value)


def test_environment_values_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="SMARTMETER_MQTT_PORT='many' is not a number"):
        load_config(env={"SMARTMETER_MQTT_PORT": "many"})
    with pytest.raises(ConfigError, match="is not a yes/no value"):
        load_config(env={"SMARTMETER_MQTT_TLS": "maybe"})


def test_a_readable_config_with_a_key_gets_a_warning(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, f'[meter]\nkey = "{KEY}"\n', mode=0o644)
    log = logging.getLogger("test-config")
    with caplog.at_level(logging.WARNING, "test-config"):
        load_config(path, env={}, warn=log.warning)
    assert "readable by other users: chmod 600" in caplog.text and KEY not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, "test-config"):
        load_config(write(tmp_path, f'[meter]\nkey = "{KEY}"\n'), env={}, warn=log.warning)
    assert caplog.text == ""


def test_layouts_come_with_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, '[layouts.mine]\nfields = [{obis = "1.0.1.8.0.255", '
                           'unit = "Wh"}, {kind = "meter_id"}]\n')
    [layout] = load_config(path, env={}).layouts
    assert layout.name == "mine"
    with pytest.raises(ConfigError, match="mine"):
        load_config(write(tmp_path, "[layouts.mine]\nfields = 3\n"), env={})


EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "smartmeter.example.toml"


def test_the_shipped_example_is_valid_once_key_and_port_are_filled_in() -> None:
    mine = {"meter": {"key": "000102030405060708090A0B0C0D0E0F"},
            "source": {"port": "/dev/ttyUSB0"}}
    config = load_config(EXAMPLE, env={}, overrides=mine)
    assert config["source"]["port"] == "/dev/ttyUSB0"
    assert config["sqlite"]["keep_raw_days"] == 90
    assert not config.on("mqtt")  # the network outputs wait, commented out


def test_the_example_placeholders_stop_the_start_saying_what_goes_there() -> None:
    with pytest.raises(ConfigError, match=r"\[meter\] key = \*\*\* is the example's placeholder:"
                                          r" put the key from your grid operator"):
        load_config(EXAMPLE, env={})
    with pytest.raises(ConfigError, match=r"\[source\] port = .*XXXXXXXX.* placeholder: put "
                                          r"your adapter's device: ls -l /dev/serial/by-id/"):
        load_config(EXAMPLE, env={}, overrides={"meter": {"key": "00" * 16}})


def test_every_output_section_of_the_example_works_uncommented(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    for section in ("mqtt", "influxdb", "postgres"):
        assert f"# [{section}]" in text
    keys = {line[2:].split("=")[0].strip() for line in text.splitlines()
            if line.startswith("# ") and "=" in line.split("#")[1]}
    for section in ("mqtt", "influxdb", "postgres", "web"):
        assert set(SCHEMA[section]) - {"enabled"} <= keys, section
    head, outputs = text.split("\n# [mqtt]")
    uncommented = head + re.sub(r"(?m)^# (?=\[|\w+ = )", "", "\n# [mqtt]" + outputs)
    path = tmp_path / "all.toml"
    path.write_text(uncommented)
    config = load_config(path, env={}, overrides={"meter": {"key": "00" * 16},
                                                  "source": {"port": "/dev/ttyUSB0"}})
    assert {"mqtt", "influxdb", "postgres", "web", "sqlite"} <= config.enabled


@pytest.mark.parametrize(("text", "message"), [
    ("[source]\nsimulate = 'vkw'\ninterval = nan\n", "interval = nan is not a finite number"),
    ("[source]\nsimulate = 'vkw'\ninterval = inf\n", "interval = inf is not a finite number"),
    ("[web]\nport = 70000\n", "port = 70000 must be at most 65535"),
    ("[mqtt]\nport = 99999\n", "port = 99999 must be at most 65535"),
    ("[mqtt]\nhost = 'mqtt://broker'\n", "give the broker's name or address only"),
    ("[influxdb]\nurl = 'localhost:8086'\n", "url = 'localhost:8086' is not valid"),
    ("[influxdb]\nurl = 'http://db:99999'\n", "the port must be 1-65535"),
    ("[postgres]\ndsn = 'this is not a dsn'\n", "neither a URL"),
    ("[mqtt]\nmin_interval = 60\n", "expire_after = 60 must be longer than min_interval = 60"),
    ("[tariff]\ntime_of_use = [{days = 'Mon-Fry', price = 0.2}]\n", "'fry' is no weekday"),
    ("[tariff]\nfeed_in_spot = true\n", "feed_in_spot = true needs dynamic_prices"),
    ("[tariff]\nenergy_price = -1\n", "energy_price = -1 must be at least 0"),
])
def test_numbers_and_addresses_that_cannot_work_stop_the_start(tmp_path: Path, text: str,
                                                               message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


def test_a_dsn_in_key_value_form_and_as_a_url_are_both_accepted(tmp_path: Path) -> None:
    for dsn in ("host=db.local port=5432 dbname=meter password='x y'",
                "postgresql://meter@db.local:5432/meter", "postgresql:///smartmeter"):
        path = tmp_path / "c.toml"
        path.write_text(f"[postgres]\ndsn = \"{dsn}\"\n")
        assert load_config(path, env={})["postgres"]["dsn"] == dsn


def test_an_interval_from_the_environment_must_be_finite() -> None:
    with pytest.raises(ConfigError, match="not a finite number"):
        load_config(None, env={"SMARTMETER_SOURCE_SIMULATE": "vkw",
                               "SMARTMETER_SOURCE_INTERVAL": "nan"})


def test_a_paced_source_behind_its_schedule_still_lets_the_loop_run() -> None:
    import asyncio

    from smartmeter_readout.sources._pacing import Schedule

    async def scenario() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        schedule = Schedule()
        for _ in range(200):  # always due: a replay at speed 0
            assert await schedule.reached(1.0)
            schedule.next(0.0)
        task.cancel()
        return ticks

    assert asyncio.run(scenario()) >= 100
    with pytest.raises(ValueError, match="impossible"):
        Schedule().next(float("nan"))


def test_a_binary_key_file_or_config_is_a_usage_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    binary = tmp_path / "key.bin"
    binary.write_bytes(bytes(range(200, 256)))
    config = tmp_path / "c.toml"
    config.write_bytes(b"\xff\xfe[meter]\x00")
    cli = [sys.executable, "-m", "smartmeter_readout"]
    for args, message in (([*cli, "decode", "00", "--key-file", str(binary)], "not a text file"),
                          ([*cli, "run", "--config", str(config)], "not a text file in UTF-8")):
        result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "internal error" not in result.stderr


def test_a_key_pasted_with_quotes_is_taken() -> None:
    from smartmeter_readout.keys import parse_key

    key = "36C66639E48A8CA4D6BC8B282A793BBB"
    assert parse_key(f'"{key}"') == parse_key(f"\u201c{key}\u201d") == bytes.fromhex(key)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f'[meter]\nkey = "{KEY}"\n' + text), env={})
    return str(caught.value)


def test_a_baud_rate_of_other_digits_says_what_is_valid(tmp_path: Path) -> None:
    for baud in ('"²"', '"٣٠٠"', '"0"', "-2400"):
        message = _error(tmp_path, f'[source]\nport = "/dev/ttyS0"\nbaud = {baud}\n')
        assert "invalid literal" not in message
        assert "baud" in message and '"auto" or a rate such as 2400' in message


@pytest.mark.parametrize("tcp", ["[::1:80", "::1:80", "host:", ":80", "host:0", "host:99999",
                                 "a b:80", "[nonsense]:80", "host:\uff18\uff10"])
def test_a_bridge_address_not_of_the_form_is_refused(tmp_path: Path, tcp: str) -> None:
    message = _error(tmp_path, f'[source]\ntcp = "{tcp}"\n')
    assert "is not HOST:PORT" in message and "[fe80::1]:8888" in message


def test_good_bridge_addresses_pass(tmp_path: Path) -> None:
    for tcp in ("192.168.1.50:8888", "[::1]:80", "bridge.local:8888", "[fe80::1]:1"):
        config = load_config(write(tmp_path, f'[meter]\nkey = "{KEY}"\n[source]\n'
                                             f'tcp = "{tcp}"\n'), env={})
        assert config["source"]["tcp"] == tcp


@pytest.mark.parametrize(("first", "second"), [
    ('port = "/dev/ttyS0"', 'port = "/dev/../dev/ttyS0"'),
    ('tcp = "localhost:8888"', 'tcp = "127.0.0.1:8888"'),
    ('tcp = "[::1]:8888"', 'tcp = "[0:0::1]:8888"'),
    ('tcp = "Bridge.invalid:8888"', 'tcp = "bridge.invalid:8888"'),
])
def test_one_port_written_two_ways_is_read_once(tmp_path: Path, first: str,
                                                second: str) -> None:
    message = _error(tmp_path, f'[[meters]]\nname = "A"\n{first}\n'
                               f'[[meters]]\nname = "B"\n{second}\n')
    assert "both read" in message and "its own adapter" in message


def test_an_empty_database_path_is_an_error_that_names_the_default(tmp_path: Path) -> None:
    for section in ("sqlite", "outbox"):
        message = _error(tmp_path, f'[source]\nsimulate = "vkw"\n[{section}]\npath = ""\n')
        default = "smartmeter.sqlite" if section == "sqlite" else "outbox.sqlite"
        assert f"[{section}] path is empty" in message and default in message
    with pytest.raises(ConfigError) as caught:
        load_config(env={"SMARTMETER_SOURCE_SIMULATE": "vkw", "SMARTMETER_SQLITE_PATH": " "})
    assert "SMARTMETER_SQLITE_PATH" in str(caught.value)


def test_control_characters_in_a_meter_name_are_refused(tmp_path: Path) -> None:
    for name in ("Top\u202e3", "Top\n3", "Top\x1b[31m3"):
        quoted = json.dumps(name)
        one = _error(tmp_path, f'name = {quoted}\n[source]\nsimulate = "vkw"\n')
        many = _error(tmp_path, f'[[meters]]\nname = {quoted}\nsimulate = "vkw"\n')
        for message in (one, many):
            assert "control character U+" in message and message.isprintable(), message
