"""Secrets are hidden in every form a message may quote them, by one function."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import urllib.request
from pathlib import Path

import pytest

from smartmeter_readout.masking import hide_secrets

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize("text", [
    f"connection failed: host=db.local port=5432 password={SECRET} dbname=meter",  # DSN pairs
    f"host=db password='{SECRET} with spaces' user=me",  # quoted DSN value
    f"postgresql://meter:{SECRET}@db.local:5432/meter: connection refused",  # DSN URL
    f"mqtt://user:{SECRET}@broker:1883 went away",  # URL userinfo
    f"POST http://influx:8086/api/v2/write?org=home&token={SECRET}&bucket=m: 401",  # query
    f"Authorization: Bearer {SECRET}",  # token header
    f"influx said: Token {SECRET} is not valid",
    f"api_key={SECRET}; retrying",
])
def test_each_form_is_hidden(text: str) -> None:
    hidden = hide_secrets(text)
    assert SECRET not in hidden and "with spaces" not in hidden
    assert "***" in hidden


def test_configured_secrets_are_hidden_wherever_they_appear() -> None:
    assert hide_secrets(f"the broker says {SECRET} is wrong", [SECRET]) == \
        "the broker says *** is wrong"
    assert hide_secrets("the key is wrong (check it)") == "the key is wrong (check it)"


def test_a_postgres_output_with_a_key_value_dsn_never_shows_its_password() -> None:
    """No server on port 9: the output's error names the server, not the password."""
    from smartmeter_readout.sinks.base import SinkError
    from smartmeter_readout.sinks.postgres import PostgresSink

    sink = PostgresSink({"dsn": f"host=127.0.0.1 port=9 dbname=x user=u password={SECRET}",
                         "table": "readings"})
    with pytest.raises(SinkError) as caught:
        asyncio.run(sink.start())
    assert SECRET not in str(caught.value) and "127.0.0.1" in str(caught.value)


def test_every_log_line_goes_through_the_filter() -> None:
    from smartmeter_readout.cli.common import SECRETS

    SECRETS.secrets.add("swordfish-99")
    record = logging.LogRecord("smartmeter_readout", logging.WARNING, __file__, 1,
                               "postgres: cannot deliver (%s), mqtt: %s",
                               (f"password={SECRET}", "swordfish-99 refused"), None)
    SECRETS.filter(record)
    assert SECRET not in record.getMessage() and "swordfish" not in record.getMessage()


def test_the_service_hides_configured_secrets_in_an_outputs_error() -> None:
    from smartmeter_readout.service.service import Service
    from smartmeter_readout.sinks.base import SinkBase

    class Output(SinkBase):
        name = "influxdb"

    service = Service(None, [Output()], secrets=["hunter2-token"])  # type: ignore[arg-type]
    service._failed("influxdb", RuntimeError("401: token hunter2-token refused"))
    error = service.state["influxdb"].error
    assert "hunter2-token" not in error and "401" in error


CANARY = "t-Leak-7777"


def test_a_password_with_an_unescaped_at_is_hidden_whole() -> None:
    for text in (f"postgresql://sm:p@{CANARY}@db.local/meter: connection refused",
                 f"PostgreSQL postgresql://sm:p@{CANARY}@127.0.0.1:9/x: refused",
                 f"http://admin:a/b@{CANARY}@influx:8086 said 401"):
        hidden = hide_secrets(text)
        assert CANARY not in hidden and "@t-" not in hidden and "***" in hidden, hidden


def test_printable_escapes_what_would_turn_a_log_line_around() -> None:
    from smartmeter_readout.masking import printable

    assert printable("Top 3 \u202eevil\n") == "Top 3 \\u202eevil\\u000a"
    assert printable("Zähler Süd") == "Zähler Süd"


def _canary_free(*outputs: str) -> None:
    for output in outputs:
        assert CANARY not in output and CANARY.lower() not in output.lower()
        assert "Leak-7777" not in output


def test_a_dsn_password_with_an_at_never_reaches_the_log_or_the_status(tmp_path: Path) -> None:
    """A PostgreSQL that is not there: its output's error, in the log and /api/v1/status."""
    from livekit import CLI, ENV, until
    from servers import free_port, wait_listening

    port = free_port()
    env = {**ENV, "SMARTMETER_POSTGRES_DSN": f"postgresql://sm:p@{CANARY}@127.0.0.1:9/db",
           "SMARTMETER_WEB_PORT": str(port), "SMARTMETER_SOURCE_INTERVAL": "0.2"}
    process = subprocess.Popen([*CLI, "run", "--simulate", "vkw", "--sqlite",
                                str(tmp_path / "h.sqlite")], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_listening(port, timeout=30)

        def failed() -> dict[str, object] | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status") as answer:
                status = json.loads(answer.read())
            return next((o for o in status["outputs"]
                         if o["name"] == "postgres" and o["error"]), None)

        postgres = until(failed, "the postgres output failing")
        status_text = json.dumps(postgres)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert "127.0.0.1" in status_text and "cannot deliver" in err
    _canary_free(status_text, out, err)


def test_a_config_error_shows_no_url_credentials(tmp_path: Path) -> None:
    from livekit import CLI, ENV

    for env in ({"SMARTMETER_INFLUXDB_URL": f"ftp://me:{CANARY}@influx:8086"},
                {"SMARTMETER_INFLUXDB_URL": f"http://me:p@{CANARY}@influx:99999"},
                {"SMARTMETER_MQTT_HOST": f"mqtt://me:{CANARY}@broker"}):
        result = subprocess.run([*CLI, "run", "--simulate", "vkw", "--sqlite",
                                 str(tmp_path / "h.sqlite")], env={**ENV, **env},
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2 and "[" in result.stderr, result.stderr
        _canary_free(result.stdout, result.stderr)


def test_the_databases_and_their_wal_files_are_private(tmp_path: Path) -> None:
    from livekit import run

    result = run(["demo", "--interval", "0.05", "--count", "3", "--console", "none",
                  "--sqlite", tmp_path / "h.sqlite", "--history-days", "0"])
    assert result.returncode == 0, result.stderr
    from smartmeter_readout.history.store import HistoryStore
    from smartmeter_readout.service.outbox import Outbox

    store = HistoryStore(tmp_path / "fresh.sqlite")  # open: -wal and -shm are there
    store.write([])
    box = Outbox(tmp_path / "outbox.sqlite")
    made = sorted(tmp_path.glob("*.sqlite*"))
    modes = {path.name: oct(path.stat().st_mode & 0o777) for path in made}
    store.close()
    box.close()
    assert {"fresh.sqlite-wal", "fresh.sqlite-shm", "outbox.sqlite-wal"} <= set(modes)
    assert set(modes.values()) == {"0o600"}, modes
