"""Secrets are hidden in every form a message may quote them, by one function."""

from __future__ import annotations

import asyncio
import logging

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
