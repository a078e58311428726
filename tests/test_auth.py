"""The page's access rules: the bearer scheme in any case, sessions that end on the server,
logout that ends them all, and a login that only ever sends you back into this site."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from smartmeter_readout.web.auth import COOKIE, SESSION_SECONDS, Auth

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
