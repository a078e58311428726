"""The page tells the truth about time, and says it in the reader's language (issue 21).

A real service reads a simulated meter on a pseudo-terminal; the meter is then stopped, so
the newest value stays where it was. The page's clock is Playwright's (``page.clock``): a page
opened "60 s later" sees the service exactly as it is, only its own clock is ahead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from livekit import AUTH, KEY, simulator, until
from webkit import Demo, chromium, demo, served

NOT_LIVE = {"en": "not live, last value at {time}", "de": "nicht aktuell, letzter Wert um {time}"}
LIVE = {"en": "live", "de": "aktuell"}
LOCALES = {"en": "en-GB", "de": "de-AT"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Demo, dict[str, Any]]]:
    """A service whose meter pushed a few times and then stopped (the simulator ended)."""
    folder = tmp_path_factory.mktemp("stopped")
    link = folder / "ttyMETER"
    with served("run", "--port", str(link), "--key", KEY, "--auth-key", AUTH,
                "--sqlite", str(folder / "history.sqlite")) as site:
        with simulator(link, "vkw", interval=1.0, pace=True):
            site.wait_readings(4, timeout=120)  # a safety net: detection, then pushes
        # the service notices the silence by itself (SMARTMETER_LIVE_SILENCE: 4 s)
        status = until(lambda: _quiet(site), "the service to see the meter fall silent")
        yield site, status


def _quiet(site: Demo) -> dict[str, Any] | None:
    _, status = site.get("/api/v1/status")
    return status if status["source"]["state"] != "receiving" else None


def _received(status: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(status["last_reading"]["received"])


def _open(browser: Browser, site: Demo, lang: str, clock: datetime, *,
          fixed: bool = False) -> Page:
    """The page with its clock at ``clock``: going on from there, or ``fixed`` there."""
    page = browser.new_context(locale=LOCALES[lang]).new_page()
    if fixed:
        page.clock.set_fixed_time(clock)
    else:
        page.clock.install(time=clock)
    page.goto(site.url)
    return page


@pytest.mark.parametrize("lang", ["en", "de"])
def test_a_page_opened_a_minute_after_the_meter_fell_silent_says_since_when(
        browser: Browser, stopped: tuple[Demo, dict[str, Any]], lang: str) -> None:
    site, status = stopped
    last = _received(status)
    at = last.astimezone(ZoneInfo(status["time_zone"])).strftime("%H:%M:%S")
    assert status["push_interval_seconds"] > 0  # how often the meter pushed (no timing)
    page = _open(browser, site, lang, last + timedelta(seconds=60), fixed=True)
    expected = NOT_LIVE[lang].format(time=at)
    expect(page.locator("#conn-text")).to_have_text(expected)
    expect(page.locator("#conn")).to_have_attribute("data-state", "stale")
    expect(page.locator("[data-testid=stale]")).to_contain_text(expected)
    expect(page.locator("[data-testid=net-power]")).to_have_class(re.compile("stale"))
    expect(page.locator("[data-testid=age]")).to_have_text(
        {"en": "60 s ago", "de": "vor 60 s"}[lang])


@pytest.mark.parametrize("lang", ["en", "de"])
def test_an_open_page_greys_out_when_the_values_stop(
        browser: Browser, stopped: tuple[Demo, dict[str, Any]], lang: str) -> None:
    site, status = stopped
    last = _received(status)
    page = _open(browser, site, lang, last + timedelta(seconds=2))
    expect(page.locator("#conn-text")).to_have_text(LIVE[lang])
    expect(page.locator("[data-testid=age]")).to_contain_text(
        {"en": "last value", "de": "letzter Wert vor"}[lang])
    page.clock.fast_forward(60_000)
    at = last.astimezone(ZoneInfo(status["time_zone"])).strftime("%H:%M:%S")
    expect(page.locator("#conn-text")).to_have_text(NOT_LIVE[lang].format(time=at))
    expect(page.locator("[data-testid=stale]")).to_contain_text(NOT_LIVE[lang].format(time=at))


# ---- every word of the status card in German --------------------------------------------

STATIC = Path(__file__).resolve().parent.parent / "src" / "smartmeter_readout" / "web" / \
    "static" / "locale"
WORD = re.compile(r"[A-Za-zÄÖÜäöüß]+")
# proper names and symbols, the same in both languages
PROPER = {"obis", "m", "bus", "hdlc", "dsmr", "oms", "p", "sqlite", "mqtt", "influxdb",
          "postgresql", "baud", "w", "kw", "wh", "kwh", "var", "kvarh", "v", "a", "hz", "s",
          "min", "h", "n", "e", "o"}


def _words(text: str) -> set[str]:
    return {word.lower() for word in WORD.findall(re.sub(r"\{\w+\}", " ", text))}


def english_words(status: dict[str, Any]) -> set[str]:
    """Words a German page must not show: those of the English texts and of the API's machine
    values, less those German uses too and proper names."""
    english = json.loads((STATIC / "en.json").read_text())
    german = json.loads((STATIC / "de.json").read_text())
    source = status["source"]
    last = status["last_reading"] or {}
    machine = [source["name"], source["state"], source["framing"] or "", source["operator"],
               last.get("layout") or "", last.get("security") or "",
               *(output["name"] for output in status["outputs"])]
    found = set().union(*map(_words, [*english, *machine]))
    return found - set().union(*map(_words, german.values())) - PROPER


def _card(page: Page) -> str:
    return "\n".join([page.locator("#status").inner_text(),
                      page.locator("#outputs").inner_text(),
                      page.locator("header .connection").inner_text(),
                      page.locator("[data-testid=stale]").inner_text()])


@pytest.mark.parametrize("service", ["stopped", "site"])
def test_the_status_card_is_german_throughout(browser: Browser, service: str,
                                              request: pytest.FixtureRequest) -> None:
    """Of a meter on a serial line that fell silent, and of the demo's simulated meter."""
    if service == "stopped":
        site, status = request.getfixturevalue("stopped")
        clock = _received(status) + timedelta(seconds=60)
    else:
        site, clock = request.getfixturevalue("site"), datetime.now(UTC)
    page = _open(browser, site, "de", clock)
    expect(page.locator("#status dd").first).not_to_be_empty()
    expect(page.locator("#outputs tbody tr").first).to_be_visible()
    _, now = site.get("/api/v1/status")
    meter, source = now["meter"] or {}, now["source"]["name"]
    names = _words(" ".join(filter(None, [meter.get("manufacturer"), meter.get("id"),
                                          now["time_zone"]]))) | {"vkw"}  # the profile
    if source.startswith("/"):
        names |= _words(source)  # a serial device: its path
    text = _card(page)
    english = sorted(word for word in _words(text) & english_words(now) if word not in names)
    assert english == [], f"English on the German page: {english} in\n{text}"
    for shown in ("M-Bus", "Mitteleuropäische Zeit", "Telegrammaufbau", "verschlüsselt"):
        assert shown in text, (shown, text)
    if service == "site":
        assert "simulierter Zähler (vkw)" in text and "empfängt Telegramme" in text, text
    else:
        assert "nicht aktuell, letzter Wert um" in text, text


def test_the_status_card_in_english_names_the_same_things(browser: Browser,
                                                           site: Demo) -> None:
    page = _open(browser, site, "en", datetime.now(UTC))
    for shown in ("simulated meter (vkw)", "reading pushes", "M-Bus", "Central European Time",
                  "OBIS codes in structures (A)", "encrypted", "every "):  # from the 2nd push
        expect(page.locator("#status")).to_contain_text(shown)
    # the service's own sentence about its source stays at hand, on hover
    state = page.locator("#status dd").nth(1)
    assert state.get_attribute("title")


# ---- a counter that went down -----------------------------------------------------------

GROUP = "[ .,\u00a0\u202f]"  # de-AT groups thousands with a space in recent CLDR, with a dot before
RESET = {"en": re.compile(r"^The import counter fell on 7 Dec at 09:19 from 4,631\.078 to 0\.012 "
                          r"kWh \(meter replaced or restarted\): a new series counts from "
                          r"there\.$"),
         "de": re.compile(r"^Zählerstand Bezug ist am 7\.12\. um 09:19 von 4" + GROUP +
                          r"631,078 auf 0,012 kWh gesunken \(Zähler getauscht oder neu "
                          r"gestartet\): ab dort zählt eine neue Reihe\.$")}

SMALL = {"en": "The reactive import counter fell on 7 Dec at 08:00 from 214.2044 to 214.2039 "
               "kvarh",
         "de": "Zählerstand Blindenergie Bezug ist am 7.12. um 08:00 von 214,2044 auf 214,2039 "
               "kvarh gesunken"}


@pytest.fixture(scope="module")
def site() -> Iterator[Demo]:
    with demo("--history-days", "0") as running:
        running.wait_readings(1)
        yield running


@pytest.mark.parametrize("lang", ["en", "de"])
def test_a_counter_that_went_down_is_explained(browser: Browser, site: Demo, lang: str) -> None:
    _, status = site.get("/api/v1/status")
    year = datetime.now().year
    resets = [{"meter": (status["meter"] or {}).get("history_id"), "code": "1.0.1.8.0.255",
               "name": "active_energy_import", "time": f"{year}-12-07T08:19:30+00:00",
               "before": 4631078, "after": 12},
              {"meter": (status["meter"] or {}).get("history_id"), "code": "1.0.3.8.0.255",
               "name": "reactive_energy_import", "time": f"{year}-12-07T07:00:00+00:00",
               "before": 214204.4, "after": 214203.9}]
    changed = {**status, "counter_resets": resets}

    def answer_status(route: Route) -> None:
        route.fulfill(json=changed)

    def answer_events(route: Route) -> None:  # one status event; the next try in 10 min
        route.fulfill(status=200, content_type="text/event-stream",
                      body=f"retry: 600000\n\nevent: status\ndata: {json.dumps(changed)}\n\n")

    page = browser.new_context(locale=LOCALES[lang]).new_page()
    page.route("**/api/v1/status", answer_status)
    page.route("**/api/v1/events", answer_events)
    page.goto(site.url)
    note = page.locator("[data-testid=counter-resets]")
    expect(note).to_be_visible()
    expect(note.locator("p")).to_have_count(2)
    expect(note.locator("p").first).to_have_text(RESET[lang])
    # a drop too small for three decimals is shown with more of them
    expect(note.locator("p").nth(1)).to_contain_text(SMALL[lang])


def test_a_replaced_meter_shows_its_import_drop_first(browser: Browser, site: Demo) -> None:
    """A swap drops all four counters at the same moment (the API lists them in any order):
    the note shows all four, energy import first, and leaves an older drop out."""
    _, status = site.get("/api/v1/status")
    meter = (status["meter"] or {}).get("history_id")
    year = datetime.now().year
    swap = f"{year}-12-07T08:19:30+00:00"
    resets = [{"meter": meter, "code": code, "name": name, "time": swap, "before": 9000,
               "after": 10} for code, name in (
                   ("1.0.4.8.0.255", "reactive_energy_export"),
                   ("1.0.3.8.0.255", "reactive_energy_import"),
                   ("1.0.2.8.0.255", "active_energy_export"),
                   ("1.0.1.8.0.255", "active_energy_import"))]
    resets.append({"meter": meter, "code": "1.0.1.8.0.255", "name": "active_energy_import",
                   "time": f"{year}-11-01T08:00:00+00:00", "before": 5000, "after": 1})
    changed = {**status, "counter_resets": resets}
    page = browser.new_context(locale=LOCALES["en"]).new_page()
    page.route("**/api/v1/status", lambda route: route.fulfill(json=changed))
    page.route("**/api/v1/events", lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body=f"retry: 600000\n\nevent: status\ndata: {json.dumps(changed)}\n\n"))
    page.goto(site.url)
    lines = page.locator("[data-testid=counter-resets] p")
    expect(lines).to_have_count(4)
    expect(lines.first).to_contain_text("The import counter fell on 7 Dec")
    expect(lines.nth(1)).to_contain_text("The export counter")


def test_no_note_without_a_counter_that_went_down(browser: Browser, site: Demo) -> None:
    page = browser.new_context(locale="de-AT").new_page()
    page.goto(site.url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("[data-testid=counter-resets]")).to_be_hidden()
