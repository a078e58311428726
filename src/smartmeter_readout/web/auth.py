"""Who may look: nobody needs a token on loopback; anywhere else every request carries one.

The API takes ``Authorization: Bearer <token>``. The page cannot set headers on its own
requests (EventSource cannot at all), so ``/login`` trades the token for an HttpOnly,
SameSite=Strict cookie holding an HMAC of it: the token itself is never stored in the browser,
and changing the token signs everybody out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from importlib.resources import files
from urllib.parse import quote

from aiohttp import web

__all__ = ["COOKIE", "Auth"]

COOKIE = "smartmeter_session"
_OPEN = {"/login", "/static/style.css", "/static/favicon.svg"}
_FAILED_LOGIN_DELAY = 1.0  # slows guessing down; a person does not notice

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Auth:
    def __init__(self, token: str) -> None:
        self.token = token
        self.session = hmac.new(token.encode(), b"smartmeter-readout page session",
                                hashlib.sha256).hexdigest() if token else ""

    def allowed(self, request: web.Request) -> bool:
        if not self.token:
            return True
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(
                header[7:].strip().encode(), self.token.encode()):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), self.session.encode())

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
        form = await request.post()
        given = str(form.get("token", ""))
        target = request.query.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # only back into this site
        if not self.token or not hmac.compare_digest(given.encode(), self.token.encode()):
            await asyncio.sleep(_FAILED_LOGIN_DELAY)
            return _login_html("That is not the token in [web] token of the service's "
                               "configuration.", 401)
        response = web.HTTPSeeOther(target)
        response.set_cookie(COOKIE, self.session, max_age=30 * 86400, httponly=True,
                            samesite="Strict", path="/")
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response


def _login_html(message: str, status: int) -> web.Response:
    page = (files(__package__) / "static" / "login.html").read_text(encoding="utf-8")
    shown = f'<p class="problem" role="alert">{message}</p>' if message else ""
    return web.Response(text=page.replace("<!--message-->", shown), status=status,
                        content_type="text/html")
