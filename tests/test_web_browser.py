"""The page in a real headless Chromium (Debian's, driven by Playwright) against ``demo``.

Screenshots land in test-artifacts/ (light, dark, phone).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from webkit import ARTIFACTS, Demo, chromium, demo

TOKEN = "a-long-enough-page-token-0042"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def site() -> Iterator[Demo]:
    with demo() as running:
        running.wait_readings(2)
        yield running


class Watched:
    """A page whose console errors, uncaught exceptions and failed requests are kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"{r.status} {r.url}"))

    def _failed(self, request: Any) -> None:
        if request.url.endswith("/api/v1/events"):  # the stream is cut when the test ends
            return
        if request.failure == "net::ERR_ABORTED":  # a reload cancels what was under way
            return
        self.problems.append(f"failed: {request.url} {request.failure}")


def open_page(browser: Browser, url: str, **context: Any) -> Watched:
    page = browser.new_context(**context).new_page()
    watched = Watched(page)
    page.goto(url)
    return watched


def test_page_shows_live_values_charts_profile_and_status(browser: Browser, site: Demo) -> None:
    watched = open_page(browser, site.url, viewport={"width": 1280, "height": 900})
    page = watched.page
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    net = page.locator("[data-testid=net-power]")
    first = net.inner_text()
    assert first.endswith("W") and first != "\u2013"  # the placeholder dash
    counter = page.locator("#counters dd").first.inner_text()
    assert "kWh" in counter
    # the simulator pushes every second: the net power changes (the load is noisy)
    expect(net).not_to_have_text(first, timeout=15000)
    assert "V" in page.locator("#voltage_l1").inner_text()
    assert "A" in page.locator("#current_l3").inner_text()
    assert "last value" in page.locator("[data-testid=age]").inner_text()
    # charts from the history: an hour of minutes, 30 days, 96 quarter hours of today so far
    until(lambda: points(page, "power-chart") > 30)
    assert page.locator("#power-chart path.line").count() == 2
    until(lambda: points(page, "energy-chart") >= 30)
    assert page.locator("#energy-chart rect.import").count() >= 30
    until(lambda: page.locator("#profile-table tbody tr").count() > 0)
    rows = page.locator("#profile-table tbody tr")
    assert rows.first.locator("td").first.text_content() == "00:00"
    assert "kWh" in page.locator("#profile-total").inner_text()
    # a day in the made-up past has all 96 quarter hours
    page.locator("#profile-day").fill(_days_ago(3))
    page.locator("#profile-day").dispatch_event("change")
    until(lambda: page.locator("#profile-table tbody tr").count() == 96)
    # status
    status = page.locator("#status").inner_text()
    assert "simulated meter (vkw)" in status and "M-Bus" in status and "KFM" in status
    assert page.locator("#outputs tbody tr").first.inner_text().startswith("SQLite")
    # other ranges
    page.get_by_role("tab", name="Week").click()
    until(lambda: points(page, "power-chart") > 100)
    page.get_by_role("tab", name="Months").click()
    until(lambda: 2 <= points(page, "energy-chart") <= 3)
    page.get_by_role("tab", name="Days").click()
    page.locator("details").evaluate("d => d.open = true")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=True)
    assert watched.problems == []


def test_page_is_readable_on_a_phone_in_dark_mode(browser: Browser, site: Demo) -> None:
    watched = open_page(browser, site.url, viewport={"width": 390, "height": 844},
                        color_scheme="dark", device_scale_factor=2, is_mobile=True)
    page = watched.page
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    until(lambda: points(page, "power-chart") > 30)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing sticks out sideways
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 21, 28)"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-phone-dark.png"), full_page=True)
    assert watched.problems == []


WORDS = {
    "en": {"today": "Today", "cost": "Cost EUR", "peak": "highest quarter hour", "import": "import",
           "lang": "DE", "net": "Net power", "months": "Months of a year"},
    "de": {"today": "Heute", "cost": "Kosten EUR", "peak": "höchste Viertelstunde",
           "import": "Bezug", "lang": "EN", "net": "Nettoleistung",
           "months": "Monate eines Jahres"},
}
DEVICES = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
              "is_mobile": True, "has_touch": True},
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["en", "de"])
def test_summary_cost_peak_and_charts_in_each_language(browser: Browser, site: Demo, lang: str,
                                                       device: str, scheme: str) -> None:
    words = WORDS[lang]
    watched = open_page(browser, site.url, locale="de-AT" if lang == "de" else "en-GB",
                        color_scheme=scheme, **DEVICES[device])
    page = watched.page
    expect(page.locator("#net-label")).to_contain_text(words["net"])
    expect(page.locator("html")).to_have_attribute("lang", lang)
    # the summary: five periods, cost (the demo's sample tariff) and the peak
    rows = page.locator("#summary tbody tr")
    expect(rows).to_have_count(5)
    assert rows.first.locator("th").inner_text() == words["today"]
    assert page.locator("#summary thead .cost").inner_text() == words["cost"]
    yesterday = rows.nth(1).locator("td")
    assert re.fullmatch(r"-?[\d.,\u202f\u00a0]+", yesterday.nth(3).inner_text())  # cost
    assert re.fullmatch(r"[\d.,]+", yesterday.nth(4).inner_text())  # peak kW
    tap = (lambda target: target.tap()) if device == "phone" else (lambda t: t.click())
    tap(rows.nth(2))
    expect(page.locator("#summary-note")).to_contain_text(words["peak"])
    # a bar's figures on a tap, not only on hover
    until(lambda: points(page, "energy-chart") >= 30)
    tap(page.locator("#energy-chart .slot").nth(-2))
    expect(page.locator("#energy-readout")).to_contain_text(words["import"])
    expect(page.locator("#energy-readout")).to_contain_text("kWh")
    # months with their year, so they are not taken for dates
    page.get_by_role("tab", name=words["months"]).click()
    until(lambda: 2 <= points(page, "energy-chart") <= 3)
    labels = page.locator("#energy-chart > text").all_text_contents()
    assert any(re.search(r"\b20\d\d$", label) for label in labels), labels
    # both sides of zero say what they are
    sides = page.locator("#power-chart text.side").all_text_contents()
    assert any(words["import"] in side for side in sides)
    if device == "desktop":
        box = page.locator("#power-chart").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
        expect(page.locator("#power-readout")).to_contain_text("W")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= DEVICES[device]["viewport"]["width"]  # type: ignore[index]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page-{lang}-{device}-{scheme}.png"), full_page=True)
    assert watched.problems == []


def test_the_running_quarter_hour_is_watched_against_a_peak_warning(browser: Browser) -> None:
    with demo("--history-days", "0", env={"SMARTMETER_WEB_PEAK_WARNING": "250000"}) as site:
        site.wait_readings(1)
        watched = open_page(browser, site.url, locale="en-GB")
        page = watched.page
        note = page.locator("[data-testid=peak]")
        expect(note).to_contain_text("this quarter hour heads for")
        expect(note).to_contain_text("warning at 250.00 kW")
        # a household far below it: no colour
        assert page.locator("[data-testid=net-power]").get_attribute("data-peak") is None
        assert watched.problems == []


def test_the_language_switch_is_remembered(browser: Browser, site: Demo) -> None:
    watched = open_page(browser, site.url, locale="en-GB")
    page = watched.page
    expect(page.locator("#lang")).to_have_text("DE")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")  # the button works
    page.locator("#lang").click()
    expect(page.locator("#net-label")).to_contain_text("Nettoleistung")
    expect(page.locator("#summary tbody tr").first.locator("th")).to_have_text("Heute")
    page.reload()
    expect(page.locator("#net-label")).to_contain_text("Nettoleistung")
    expect(page.locator("#lang")).to_have_text("EN")
    assert watched.problems == []


def test_page_survives_the_service_restarting(browser: Browser) -> None:
    with demo("--history-days", "0") as first:
        first.wait_readings(1)
        watched = open_page(browser, first.url)
        page = watched.page
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        first.process.terminate()
        first.process.wait(10)
        expect(page.locator("#conn")).to_have_attribute(
            "data-state", re.compile("reconnecting|offline"))
        assert page.locator("#conn-text").inner_text() != "live"
        # the last value must not look current: it greys out and says since when
        expect(page.locator("[data-testid=net-power]")).to_have_class(re.compile("stale"))
        expect(page.locator("[data-testid=stale]")).to_contain_text("not live, last value at")


def test_login_when_a_token_is_set(browser: Browser) -> None:
    with demo("--history-days", "1", env={"SMARTMETER_WEB_TOKEN": TOKEN}) as guarded:
        guarded.wait_readings(1, TOKEN)
        page = browser.new_context().new_page()
        page.goto(guarded.url)
        assert "/login" in page.url
        page.locator("#token").fill("this is not the token")
        page.locator("button[type=submit]").click()
        assert "not the token" in page.locator(".problem").inner_text()
        page.locator("#token").fill(TOKEN)
        page.locator("button[type=submit]").click()
        page.wait_for_url(guarded.url + "/")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        assert TOKEN not in page.content()
        cookies = page.context.cookies()
        assert all(TOKEN not in cookie["value"] for cookie in cookies)
        assert any(cookie["httpOnly"] for cookie in cookies)


def points(page: Page, chart: str) -> int:
    return int(page.locator(f"#{chart}").get_attribute("data-points") or 0)


def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for the page in Python: its Content-Security-Policy forbids evaluated scripts."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the page did not get there in time")
        time.sleep(0.1)


def _days_ago(days: int) -> str:
    from datetime import date, timedelta

    return (date.today() - timedelta(days=days)).isoformat()
