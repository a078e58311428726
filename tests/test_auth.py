"""The page's access rules: the bearer scheme in any case, sessions that end on the server,
logout that ends them all, a login that only ever sends you back into this site, and
guessing made slow: wrong tokens per address answered 429 after a few (issue 27)."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from smartmeter_readout.web.auth import COOKIE, SESSION_SECONDS, Auth
from smartmeter_readout.web.server import WebServer
from smartmeter_readout.web.throttle import Throttle

TOKEN = "a-token-of-twenty-chars"


def _request(headers: dict[str, str] | None = None, cookie: str | None = None,
             path: str = "/api/v1/status") -> web.Request:
    headers = dict(headers or {})
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    return make_mocked_request("GET", path, headers=headers)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    assert Auth(TOKEN).allowed(_request({"Authorization": f"{scheme} {TOKEN}"}))
    assert not Auth(TOKEN).allowed(_request({"Authorization": f"{scheme} wrong"}))


def test_a_session_ends_after_30_days_on_the_servers_clock() -> None:
    now = [1_000_000.0]
    auth = Auth(TOKEN, clock=lambda: now[0])
    session = auth.new_session()
    assert auth.allowed(_request(cookie=session))
    now[0] += SESSION_SECONDS + 1
    assert not auth.allowed(_request(cookie=session))


def test_logout_ends_every_session_and_a_forged_one_never_starts() -> None:
    auth = Auth(TOKEN)
    session = auth.new_session()
    issued = session.split(".")[0]
    assert not auth.allowed(_request(cookie=f"{issued}.{'0' * 64}"))
    with pytest.raises(web.HTTPSeeOther):
        asyncio.run(auth.logout(_request(cookie=session, path="/logout")))
    assert not auth.allowed(_request(cookie=session))


@pytest.mark.parametrize(("target", "expected"), [
    ("/history?step=1h", "/history?step=1h"), ("/", "/"),
    ("//evil.example", "/"), ("/\t/evil.example", "/"), ("/\\evil.example", "/"),
    ("https://evil.example", "/"), ("/ /evil", "/"), ("/\n/evil", "/"),
])
def test_login_sends_you_back_into_this_site_only(target: str, expected: str) -> None:
    from urllib.parse import quote

    auth = Auth(TOKEN)
    request = make_mocked_request("POST", f"/login?next={quote(target, safe='')}")

    async def post() -> dict[str, str]:
        return {"token": TOKEN}

    request.post = post  # type: ignore[method-assign]
    with pytest.raises(web.HTTPSeeOther) as answer:
        asyncio.run(auth.login(request))
    assert answer.value.location == expected


# issue 27, item 6: guessing the token costs time, is logged once per burst and counted

def test_wrong_attempts_wait_longer_and_longer_after_a_few() -> None:
    now = [1000.0]
    throttle = Throttle(free=5, longest=300, clock=lambda: now[0])
    for guess in range(5):
        assert throttle.wait("192.0.2.7") == 0
        throttle.failed("192.0.2.7", f"guess {guess}")
    assert throttle.wait("192.0.2.7") == 0  # five are free
    waits = []
    for guess in range(5, 16):
        throttle.failed("192.0.2.7", f"guess {guess}")
        waits.append(throttle.wait("192.0.2.7"))
        now[0] += waits[-1]
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert throttle.wait("192.0.2.8") == 0  # another address is not held up
    now[0] += 901  # a quarter of an hour without a wrong attempt ends the burst
    assert throttle.wait("192.0.2.7") == 0 and throttle.failures == 16


def test_the_same_wrong_value_counts_once_and_v6_counts_by_network() -> None:
    throttle = Throttle(free=2, clock=lambda: 0.0)
    for _ in range(50):  # a browser with a cookie from before a restart
        throttle.failed("192.0.2.7", "cookie stale")
    assert throttle.failures == 1 and throttle.wait("192.0.2.7") == 0
    for host in range(3):  # one host has a whole /64
        throttle.failed(f"2001:db8:1:2::{host + 1}", f"guess {host}")
    assert throttle.wait("2001:db8:1:2:ffff::9") > 0
    assert throttle.wait("2001:db8:1:3::1") == 0
    assert Throttle.key("::ffff:192.0.2.7") == "192.0.2.7"


def test_the_addresses_remembered_are_bounded() -> None:
    throttle = Throttle(free=0, max_addresses=100, clock=lambda: 0.0)
    for host in range(1000):
        throttle.failed(f"10.0.{host // 256}.{host % 256}", "guess")
    assert len(throttle._bursts) == 100
    assert throttle.wait("10.0.3.231") > 0 and throttle.wait("10.0.0.0") == 0


async def _ask(port: int, request: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request.encode())
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _get(path: str, header: str = "") -> str:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{header}\r\n"


def _login(token: str) -> str:
    body = urlencode({"token": token})
    return ("POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
            f"application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n{body}")


def test_a_running_server_answers_guesses_429_logs_once_and_counts(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]

    async def scenario() -> None:
        server = WebServer(None, "127.0.0.1", 0, token=TOKEN, fleet=None)
        server.auth.throttle.clock = lambda: now[0]  # frozen: nothing waits out by itself
        assert await server.start()
        try:
            port = server.port
            session = server.auth.new_session()
            answers = [await _ask(port, _get("/metrics", f"Authorization: Bearer guess-{n}\r\n"))
                       for n in range(20)]
            answers += [await _ask(port, _login(f"guess-{n}")) for n in range(20, 25)]
            codes = [status for status, _, _ in answers]
            assert codes == [401] * 6 + [429] * 19  # five free, the sixth starts the wait
            assert all(headers["Retry-After"] == "1" for status, headers, _ in answers
                       if status == 429)
            # while it waits not even the right token is compared; a session still passes
            assert (await _ask(port, _get("/metrics", f"Authorization: Bearer {TOKEN}\r\n"))
                    )[0] == 429
            assert (await _ask(port, _get("/metrics", f"Cookie: {COOKIE}={session}\r\n"))
                    )[0] == 200
            now[0] += 1.5
            assert (await _ask(port, _login(TOKEN)))[0] == 303  # waited: the right one works
            assert (await _ask(port, _get("/metrics", "Authorization: Bearer x\r\n")))[0] == 401
            assert (await _ask(port, _login("y")))[0] == 429  # now 2 s
            _, _, text = await _ask(port, _get("/metrics", f"Cookie: {COOKIE}={session}\r\n"))
            families = {f.name: f for f in text_string_to_metric_families(text.decode())}
            assert families["smartmeter_web_auth_failures"].samples[0].value == 7
            assert families["smartmeter_web_auth_refused"].samples[0].value == 21
        finally:
            await server.close()

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    logged = [r for r in caplog.records if "wrong tokens" in r.getMessage()]
    assert len(logged) == 1 and "127.0.0.1" in logged[0].getMessage()
    assert TOKEN not in caplog.text and "guess-" not in caplog.text


def test_without_a_token_loopback_stays_open_to_anything() -> None:
    async def scenario() -> None:
        server = WebServer(None, "127.0.0.1", 0, fleet=None)
        assert await server.start()
        try:
            for n in range(30):
                status, _, _ = await _ask(server.port, _get(
                    "/metrics", f"Authorization: Bearer guess-{n}\r\n"))
                assert status == 200
            assert server.auth.throttle.failures == 0
        finally:
            await server.close()

    asyncio.run(scenario())
