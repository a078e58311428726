"""The REST API of a running ``demo``: contents, errors, the token, and the OpenAPI description
checked by property-based tests (schemathesis) against the live server."""

from __future__ import annotations

import calendar
import http.client
import json
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client.parser import text_string_to_metric_families
from schemathesis.checks import positive_data_acceptance

import smartmeter_readout.web as web_package
from livekit import CLI, ENV
from smartmeter_readout.history.query import HistoryQuery
from webkit import Demo, demo, served

OPENAPI = Path(web_package.__file__).parent / "openapi.json"
SCHEMA = schemathesis.openapi.from_path(OPENAPI).exclude(path="/api/v1/events")
TOKEN = "correct-horse-battery-staple-42"
KEY_HEX = "5AD7A2C3E41B9F06D8C1E2F3A4B5C6D7"
POWER, ENERGY = "1.0.1.7.0.255", "1.0.1.8.0.255"


@pytest.fixture(scope="module")
def site() -> Iterator[Demo]:
    with demo(env={"SMARTMETER_METER_KEY": KEY_HEX}) as running:
        running.wait_readings(3)
        yield running


@pytest.fixture(scope="module")
def guarded() -> Iterator[Demo]:
    with demo(env={"SMARTMETER_WEB_TOKEN": TOKEN}) as running:
        running.wait_readings(1, TOKEN)
        yield running


def test_latest_reading_is_the_json_contract(site: Demo) -> None:
    status, reading = site.get("/api/v1/reading")
    assert status == 200
    assert set(reading) == {"time", "received", "meter", "frame_counter", "values"}
    assert reading["meter"]["id"] == "1KFM0200014196"
    assert reading["values"][POWER]["unit"] == "W"


def test_status_names_source_meter_counts_and_outputs(site: Demo) -> None:
    status, body = site.get("/api/v1/status")
    assert status == 200
    assert body["source"]["name"] == "simulated vkw meter"
    assert body["source"]["framing"] == "mbus"
    assert body["meter"]["manufacturer"] == "KFM"
    assert "key" not in body["meter"]  # the meter's name in the history is no key
    meter = body["meter"]["history_id"]
    status, one = site.get(f"/api/v1/history?step=raw&from=-1h&meter={meter}")
    assert status == 200 and one["readings"]
    assert body["pushes"]["ok"] >= 3 and body["pushes"]["bad"] == 0
    assert body["pushes"]["implausible_values"] == 0
    assert body["last_error"] is None
    assert [o["name"] for o in body["outputs"]] == ["sqlite"]
    assert body["outputs"][0]["up"] is True
    assert 0 <= body["last_reading"]["age_seconds"] < 10


def test_history_answers_every_step_from_the_aggregates(site: Demo) -> None:
    obis = f"{POWER},{ENERGY}"
    status, hour = site.get(f"/api/v1/history?from=-1h&step=1m&obis={obis}")
    assert status == 200 and 55 <= len(hour["intervals"]) <= 61
    assert set(hour["intervals"][0]["values"]) == {POWER, ENERGY}
    status, days = site.get(f"/api/v1/history?from=-30d&step=1d&obis={ENERGY}")
    assert status == 200 and 30 <= len(days["intervals"]) <= 31  # made-up history of 40 days
    deltas = [day["values"][ENERGY]["delta"] for day in days["intervals"]]
    assert all(delta > 0 for delta in deltas)  # the counter only rises
    status, months = site.get(f"/api/v1/history?from=-365d&step=1mo&obis={ENERGY}")
    assert status == 200 and 2 <= len(months["intervals"]) <= 3
    # a day's quarter hours add up to the day
    today = datetime.now().astimezone().date() - timedelta(days=2)
    day = today.isoformat()
    status, quarters = site.get(f"/api/v1/history?from={day}&to={today + timedelta(days=1)}"
                                f"&step=15m&obis={ENERGY}")
    status, whole = site.get(f"/api/v1/history?from={day}&to={today + timedelta(days=1)}"
                             f"&step=1d&obis={ENERGY}")
    assert len(quarters["intervals"]) == 96
    total = sum(q["values"][ENERGY]["delta"] for q in quarters["intervals"])
    assert total == pytest.approx(whole["intervals"][0]["values"][ENERGY]["delta"])
    status, capped = site.get("/api/v1/history?from=-3650d&step=1m")
    assert status == 200 and capped["truncated"] is True
    status, raw = site.get("/api/v1/history?from=-5m&step=raw")
    assert status == 200 and raw["readings"] and raw["truncated"] is False
    status, series = site.get("/api/v1/series")
    assert {row["obis"] for row in series["series"]} >= {POWER, ENERGY}


def test_summary_and_peaks_agree_with_the_history(site: Demo) -> None:
    status, body = site.get("/api/v1/summary")
    assert status == 200 and body["time_zone"] == "Europe/Vienna"
    periods = body["periods"]
    assert list(periods) == ["today", "yesterday", "this_month", "last_month", "this_year"]
    yesterday = periods["yesterday"]
    status, day = site.get(f"/api/v1/history?from={yesterday['start'][:10]}&to="
                           f"{yesterday['end'][:10]}&step=1d&obis={ENERGY}")
    assert yesterday["import_wh"] == pytest.approx(
        day["intervals"][0]["values"][ENERGY]["delta"], abs=0.01)
    assert yesterday["net_wh"] == pytest.approx(
        yesterday["import_wh"] - yesterday["export_wh"], abs=0.01)
    assert 0 <= yesterday["self_supplied_share"] <= 1  # the simulated meter has PV
    status, days = site.get("/api/v1/peaks?from=-7d&step=1d")
    assert status == 200 and 7 <= len(days["peaks"]) <= 8
    by_day = {row["start"][:10]: row for row in days["peaks"]}
    assert by_day[yesterday["start"][:10]]["w"] == yesterday["peak"]["w"]
    status, months = site.get("/api/v1/peaks?from=-60d&step=1mo")
    assert status == 200 and max(m["w"] for m in months["peaks"]) >= yesterday["peak"]["w"]
    assert site.get("/api/v1/peaks?step=1h")[0] == 400


def test_the_demo_tariff_prices_every_period(site: Demo) -> None:
    status, body = site.get("/api/v1/summary")
    yesterday = body["periods"]["yesterday"]
    cost = yesterday["cost"]
    assert cost["currency"] == "EUR" and cost["quarter_hours"] in (92, 96, 100)
    # the sample tariff: 0.22 energy + 0.09 grid per kWh, 0.07 feed-in, 5.00 a month
    assert cost["energy"] == pytest.approx(yesterday["import_wh"] / 1000 * 0.31, abs=0.006)
    assert cost["feed_in"] == pytest.approx(yesterday["export_wh"] / 1000 * 0.07, abs=0.006)
    status, costs = site.get("/api/v1/costs?from=-3d&step=1d")
    assert status == 200
    by_day = {row["start"][:10]: row for row in costs["costs"]}
    assert by_day[yesterday["start"][:10]]["total"] == cost["total"]
    day = datetime.fromisoformat(yesterday["start"])
    assert by_day[yesterday["start"][:10]]["fees"] == pytest.approx(  # a day's base fee
        5.0 / calendar.monthrange(day.year, day.month)[1], abs=0.006)
    status, quarters = site.get("/api/v1/costs?from=-2h&step=15m")
    assert status == 200 and all(q["cost"] >= 0 for q in quarters["costs"])


@pytest.mark.parametrize(("query", "words"), [
    ("step=2m", "step='2m'"),
    ("from=yesterdayish", "is not a time"),
    ("from=-1h&to=-2h", "from must be before to"),
    ("obis=1.8.0", "is not a list of OBIS codes"),
    ("from=2026-02-31", "is not a time"),
])
def test_bad_history_queries_say_what_is_wrong(site: Demo, query: str, words: str) -> None:
    status, body = site.get(f"/api/v1/history?{query}")
    assert status == 400 and words in body["error"]


def test_the_description_admits_what_the_server_takes() -> None:
    from smartmeter_readout.web.api import OBIS_LIST, WHEN

    spec = json.loads(OPENAPI.read_text())
    params = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/history"]["get"]
              ["parameters"]}
    assert params["from"]["pattern"] == params["to"]["pattern"] == f"^({WHEN.pattern})$"
    assert params["obis"]["pattern"] == f"^{OBIS_LIST.pattern}$"


def test_metrics_still_served(site: Demo) -> None:
    status, text = site.get("/metrics")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert status == 200 and "smartmeter_pushes" in families
    # the household's figures, the same as the summary's
    status, summary = site.get("/api/v1/summary")
    month = summary["periods"]["this_month"]
    [cost] = families["smartmeter_cost_month"].samples
    # (read a moment apart: a quarter hour may have been settled in between)
    assert cost.labels == {"currency": "EUR"}
    assert cost.value == pytest.approx(month["cost"]["total"], rel=0.02)
    energy = {s.labels["direction"]: s.value
              for s in families["smartmeter_energy_month_wh"].samples}
    assert energy["import"] == pytest.approx(month["import_wh"], rel=0.01)
    assert families["smartmeter_peak_month_watts"].samples[0].value <= month["peak"]["w"]


@SCHEMA.parametrize()
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_api_keeps_to_its_openapi_description(case: Any, site: Demo) -> None:
    # semantic checks (a 31st of February, from after to) answer 400 with a reason, so the
    # "every schema-valid request is accepted" check does not apply; all others do
    case.call_and_validate(base_url=site.url, excluded_checks=[positive_data_acceptance])


def test_token_guards_api_page_and_metrics(guarded: Demo) -> None:
    for path in ("/api/v1/status", "/api/v1/reading", "/metrics", "/api/v1/openapi.json"):
        status, body = guarded.get(path)
        assert status == 401 and "Authorization: Bearer" in body["error"], path
        assert guarded.get(path, "wrong-token-wrong-token")[0] == 401
        assert guarded.get(path, TOKEN)[0] == 200
    status, page = guarded.get("/")  # the page sends people to the login
    assert status == 200 and 'name="token"' in page
    body = urllib.parse.urlencode({"token": "not it at all, sorry"}).encode()
    request = urllib.request.Request(guarded.url + "/login", data=body)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    assert TOKEN not in refused.value.read().decode()


def _demo_once(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "demo", "--count", "1", "--history-days", "0"],
                          env={**ENV, **env}, capture_output=True, text=True, timeout=60,
                          check=False)


def test_token_is_required_off_loopback() -> None:
    # refused before anything listens: nothing is bound beyond loopback in this test
    result = _demo_once(SMARTMETER_WEB_HOST="0.0.0.0")
    assert result.returncode == 2
    assert "[web] token" in result.stderr and "Traceback" not in result.stderr
    short = _demo_once(SMARTMETER_WEB_TOKEN="abc")
    assert short.returncode == 2 and "too short" in short.stderr
    assert "abc" not in short.stderr


def test_nothing_answers_with_the_key(site: Demo) -> None:
    for path in ("/api/v1/status", "/api/v1/reading", "/api/v1/history?step=raw&from=-1m",
                 "/api/v1/history?from=-1h", "/metrics", "/", "/api/v1/openapi.json"):
        status, body = site.get(path)
        assert status == 200, path
        assert KEY_HEX.lower() not in str(body).lower(), path


def _rss(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(field)


def test_a_heavy_history_answer_is_streamed_in_flat_memory(tmp_path: Path) -> None:
    """Every value in 15-minute steps over 208 days (issue 27, item 13): about 37 MB of JSON,
    written as it is read, so a `run` service's memory stays flat and its status answers
    while the answer is held half-read; the pieces together are the history's whole answer."""
    db = tmp_path / "history.sqlite"
    made = subprocess.run([*CLI, "demo", "--count", "1", "--history-days", "210", "--sqlite",
                           str(db), "--console", "none"], env=ENV, capture_output=True,
                          text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stderr
    env = {"SMARTMETER_SOURCE_SIMULATE": "vkw", "SMARTMETER_SOURCE_INTERVAL": "1",
           "SMARTMETER_SQLITE_PATH": str(db), "SMARTMETER_METER_KEY": KEY_HEX}
    with served("run", env=env) as service:
        service.wait_readings(1)
        pid = service.process.pid
        before = _rss(pid, "VmRSS")
        host = urllib.parse.urlsplit(service.url)
        heavy = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        heavy.request("GET", "/api/v1/history?from=-365d&step=15m")
        answer = heavy.getresponse()
        assert answer.status == 200 and answer.getheader("Transfer-Encoding") == "chunked"
        start = answer.read(1 << 16)
        assert service.get("/api/v1/status")[0] == 200  # while the answer is held half-read
        rest = answer.read()
        heavy.close()
        peak = _rss(pid, "VmHWM")
        body = json.loads(start + rest)
        assert len(start + rest) > 30e6 and len(body["intervals"]) >= 19_900
        assert body["truncated"] is True
        assert peak - before < 60, (before, peak)
        # pieces cut anywhere for quarter hours, at local edges for hours: the whole either way
        status = service.get("/api/v1/status")[1]
        tz = ZoneInfo(status["time_zone"])
        day = datetime.now(tz).date() - timedelta(days=3)
        history = HistoryQuery(db)
        try:
            for step, days in (("15m", 9), ("1h", 40), ("1d", 200)):
                first = (day - timedelta(days=days)).isoformat()
                code, piece = service.get(f"/api/v1/history?from={first}T05:07&to={day}"
                                          f"&step={step}")
                assert code == 200 and piece["truncated"] is False
                whole = history.intervals(step, datetime.fromisoformat(piece["from"]),
                                          datetime.fromisoformat(piece["to"]), tz)
                assert piece["intervals"] == json.loads(json.dumps(whole)), step
        finally:
            history.close()


def test_raw_readings_stream_in_pieces_without_a_gap_or_a_double(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of 7 readings, at most 40 answered, many sharing a second across the cuts."""
    import asyncio

    from aiohttp import web

    from smartmeter_readout.history.store import HistoryStore
    from smartmeter_readout.web import api

    path = tmp_path / "raw.sqlite"
    HistoryStore(path).close()
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO readings (time, meter, frame_counter, data) VALUES "
                       "(?, 'm', ?, ?)", [(1_800_000_000 + n // 3, n, json.dumps(
                           {"time": "t", "frame_counter": n, "values": {}}))
                           for n in range(100)])
    monkeypatch.setattr(api, "_PIECE_READINGS", 7)

    async def scenario() -> list[dict[str, Any]]:
        site = api.Api(None, api.SiteInfo(sqlite_path=path))  # type: ignore[arg-type]
        app = web.Application()
        app.add_routes(site.routes())
        runner = web.AppRunner(app)
        await runner.setup()
        server = web.TCPSite(runner, "127.0.0.1", 0)
        await server.start()
        port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        answers = []
        for limit in (40, 1000):
            monkeypatch.setattr(api, "_MAX_RAW", limit)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /api/v1/history?step=raw&from=2027-01-01&to=2027-02-01 "
                         b"HTTP/1.0\r\n\r\n")
            answers.append(json.loads((await reader.read()).partition(b"\r\n\r\n")[2]))
            writer.close()
        site.close()
        await runner.cleanup()
        return answers

    capped, whole = asyncio.run(scenario())
    assert [r["frame_counter"] for r in capped["readings"]] == list(range(40))
    assert capped["truncated"] is True
    assert [r["frame_counter"] for r in whole["readings"]] == list(range(100))
    assert whole["truncated"] is False
