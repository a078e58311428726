"""Who may look: nobody needs a token on loopback; anywhere else every request carries one.

The API takes ``Authorization: Bearer <token>`` (the scheme in any case). The page cannot set
headers on its own requests (EventSource cannot at all), so ``/login`` trades the token for an
HttpOnly, SameSite=Strict cookie: the time it was issued and an HMAC of that time under a key
made from the token and a secret the server draws at start. The token itself is never stored
in the browser; a session ends after 30 days on the server's clock whatever the browser
keeps; logging out draws a new secret, and changing the token or restarting the service
signs everybody out too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import time
from collections.abc import Awaitable, Callable
from importlib.resources import files
from urllib.parse import quote

from aiohttp import web

__all__ = ["COOKIE", "SESSION_SECONDS", "Auth"]

COOKIE = "smartmeter_session"
SESSION_SECONDS = 30 * 86400
_SAME_SITE = re.compile(r"/(?![/\\])[^\s\\]*")  # a path of this site, nothing a browser
# would read as another host (//evil, /\evil, /<tab>/evil: browsers drop tabs and newlines)
_OPEN = {"/login", "/static/style.css", "/static/favicon.svg"}
_FAILED_LOGIN_DELAY = 1.0  # slows guessing down; a person does not notice
_FORM_SECONDS = 10.0  # for the login form to arrive

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Auth:
    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.clock = clock
        self._secret = os.urandom(32)

    def _signature(self, issued: str) -> str:
        key = hmac.new(self._secret, self.token.encode(), hashlib.sha256).digest()
        return hmac.new(key, issued.encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        issued = str(int(self.clock()))
        return f"{issued}.{self._signature(issued)}"

    def _session_ok(self, cookie: str) -> bool:
        issued, _, signature = cookie.partition(".")
        if not issued.isdigit() or not signature:
            return False
        if not hmac.compare_digest(signature.encode(), self._signature(issued).encode()):
            return False
        return 0 <= self.clock() - int(issued) <= SESSION_SECONDS

    def allowed(self, request: web.Request) -> bool:
        if not self.token:
            return True
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              self.token.encode()):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and self._session_ok(cookie)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.allowed(request) or request.path in _OPEN:
            return await handler(request)
        if request.path.startswith("/api/") or request.path == "/metrics":
            return web.json_response(
                {"error": "this needs the token: send the header Authorization: Bearer "
                          "<[web] token>"}, status=401,
                headers={"WWW-Authenticate": 'Bearer realm="smartmeter-readout"'})
        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")

    async def login_page(self, request: web.Request) -> web.Response:
        return _login_html("", 200)

    async def login(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(_FORM_SECONDS):  # a trickled body holds no connection
                form = await request.post()
        except TimeoutError:
            raise web.HTTPRequestTimeout(text="the form took too long to arrive") from None
        given = str(form.get("token", ""))
        target = request.query.get("next", "/")
        if not _SAME_SITE.fullmatch(target):
            target = "/"  # only back into this site: no //host, /\host, tabs or spaces
        if not self.token or not hmac.compare_digest(given.encode(), self.token.encode()):
            await asyncio.sleep(_FAILED_LOGIN_DELAY)
            return _login_html("That is not the token in [web] token of the service's "
                               "configuration.", 401)
        response = web.HTTPSeeOther(target)
        response.set_cookie(COOKIE, self.new_session(), max_age=SESSION_SECONDS, httponly=True,
                            samesite="Strict", path="/")
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        self._secret = os.urandom(32)  # every session cookie issued so far stops working
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response


def _login_html(message: str, status: int) -> web.Response:
    page = (files(__package__) / "static" / "login.html").read_text(encoding="utf-8")
    shown = f'<p class="problem" role="alert">{message}</p>' if message else ""
    return web.Response(text=page.replace("<!--message-->", shown), status=status,
                        content_type="text/html")
