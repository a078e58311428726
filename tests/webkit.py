"""A running service (``demo``, or ``run`` on a simulated meter's pseudo-terminal) with its web
page on a free loopback port, for the API and browser tests."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from livekit import CLI, ENV
from servers import free_port, need, wait_listening

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@dataclass
class Demo:
    url: str
    process: subprocess.Popen[str]

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        """Status and decoded JSON body (or text) of GET path."""
        request = urllib.request.Request(self.url + path)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body, kind = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, body, kind = error.code, error.read(), error.headers
        text = body.decode()
        if kind.get_content_type() == "application/json":
            return status, json.loads(text)
        return status, text

    def wait_readings(self, count: int, token: str | None = None,
                      timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.get("/api/v1/status", token)
            if status == 200 and body["readings"] >= count:
                return dict(body)
            time.sleep(0.2)
        raise AssertionError(f"the demo did not read {count} pushes in {timeout} s")


@contextmanager
def demo(*extra: str, env: dict[str, str] | None = None,
         interval: float = 1.0) -> Iterator[Demo]:
    with served("demo", "--interval", str(interval), "--console", "none", *extra,
                env=env) as running:
        yield running


@contextmanager
def served(*args: str, env: dict[str, str] | None = None) -> Iterator[Demo]:
    """A service command (``demo``, ``run --port ...``) with its page on a free port."""
    port = free_port()
    process = subprocess.Popen(
        [*CLI, *args], env={**ENV, "SMARTMETER_WEB_PORT": str(port), **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        try:
            wait_listening(port, timeout=30)
        except TimeoutError:
            process.terminate()
            _, err = process.communicate(timeout=10)
            raise AssertionError(f"{args[0]} did not listen on {port}:\n{err}") from None
        yield Demo(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=need("chromium", "chromium"),
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page(url: str) -> Iterator[Page]:
    """A page at ``url`` in a fresh Chromium; an error the page's script raised fails the
    test when the block ends."""
    with chromium() as browser:
        page = browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(url)
        yield page
        assert not problems, problems
