"""Who may look: nobody needs a token on loopback; anywhere else every request carries one.

The API takes ``Authorization: Bearer <token>`` (the scheme in any case). The page cannot set
headers on its own requests (EventSource cannot at all), so ``/login`` trades the token for an
HttpOnly, SameSite=Strict cookie: the time it was issued and an HMAC of that time under a key
made from the token and a secret the server draws at start. The token itself is never stored
in the browser; a session ends after 30 days on the server's clock whatever the browser
keeps; logging out draws a new secret, and changing the token or restarting the service
signs everybody out too.

Before any token is known a client costs little: wrong tokens and sessions are counted per
address and soon answered 429 (``throttle``); a login form may take as long as a request's
headers (``form_seconds``: the header deadline) and be 4 KiB at most (a 413 before any of a
longer one is read), and an address has at most a few forms arriving at once; one waiting
for its form is idle to the connection guard (``idle``), so a newcomer may close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import math
import os
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from importlib.resources import files
from urllib.parse import quote

from aiohttp import web

from .throttle import Throttle

__all__ = ["COOKIE", "FORM_BYTES", "SESSION_SECONDS", "Auth"]

COOKIE = "smartmeter_session"
SESSION_SECONDS = 30 * 86400
_SAME_SITE = re.compile(r"/(?![/\\])[^\s\\]*")  # a path of this site, nothing a browser
# would read as another host (//evil, /\evil, /<tab>/evil: browsers drop tabs and newlines)
_OPEN = {"/login", "/static/style.css", "/static/favicon.svg"}
FORM_BYTES = 4096  # a login form: a token is far shorter

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Auth:
    def __init__(self, token: str, clock: Callable[[], float] = time.time, *,
                 form_seconds: float = 10.0, throttle: Throttle | None = None,
                 idle: Callable[[web.Request], AbstractContextManager[None]] | None = None
                 ) -> None:
        self.token = token
        self.clock = clock
        self.form_seconds = form_seconds
        self.throttle = throttle or Throttle()
        self.idle = idle or (lambda request: contextlib.nullcontext())
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
        return self._bearer_ok(request) or self._cookie_ok(request)

    def _bearer_ok(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  self.token.encode())

    def _cookie_ok(self, request: web.Request) -> bool:
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and self._session_ok(cookie)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.token or request.path in _OPEN or self._cookie_ok(request):
            return await handler(request)  # (a valid session passes even while its address
            # waits: it cannot be guessed)
        given = request.headers.get("Authorization", "")
        cookie = request.cookies.get(COOKIE, "")
        if given or cookie:
            wait = self.throttle.wait(request.remote)
            if wait > 0:
                return self._wait_answer(wait)
            if self._bearer_ok(request):
                return await handler(request)
            self.throttle.failed(request.remote, given or f"cookie {cookie}")
        if request.path.startswith("/api/") or request.path == "/metrics":
            return web.json_response(
                {"error": "this needs the token: send the header Authorization: Bearer "
                          "<[web] token>"}, status=401,
                headers={"WWW-Authenticate": 'Bearer realm="smartmeter-readout"'})
        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")

    def _wait_answer(self, wait: float) -> web.Response:
        self.throttle.refuse()
        seconds = max(1, math.ceil(wait))
        return web.json_response(
            {"error": f"too many wrong tokens from this address: try again in {seconds} s"},
            status=429, headers={"Retry-After": str(seconds)})

    async def login_page(self, request: web.Request) -> web.Response:
        return _login_html("", 200)

    async def login(self, request: web.Request) -> web.StreamResponse:
        """The form's token for a session cookie; the form is read only when it is short,
        arrives in time and its address has few others arriving and no wait to sit out."""
        address = request.remote
        wait = self.throttle.wait(address)
        if wait > 0:
            self.throttle.refuse()
            seconds = str(max(1, math.ceil(wait)))
            return await _closing(request, _login_html(
                f"Too many wrong tokens from this address: try again in {seconds} s.", 429,
                {"Retry-After": seconds}))
        too_long = web.Response(status=413, text="the form is too long for a token")
        if request.content_length is not None and request.content_length > FORM_BYTES:
            return await _closing(request, too_long)
        if not self.throttle.form_opened(address):
            return await _closing(request, web.Response(
                status=429, headers={"Retry-After": "5"},
                text="too many login forms arriving from this address at once"))
        try:
            with self.idle(request):  # a held form is closed first when a newcomer needs room
                async with asyncio.timeout(self.form_seconds):
                    form = await request.post()  # at most client_max_size (FORM_BYTES)
        except TimeoutError:
            return await _closing(request, web.Response(
                status=408, text="the form took too long to arrive"))
        except web.HTTPRequestEntityTooLarge:
            return await _closing(request, too_long)
        except ConnectionError:  # closed while it waited, for a newcomer: nobody to answer
            return await _closing(request, web.Response(status=400))
        finally:
            self.throttle.form_closed(address)
        given = str(form.get("token", ""))
        target = request.query.get("next", "/")
        if not _SAME_SITE.fullmatch(target):
            target = "/"  # only back into this site: no //host, /\host, tabs or spaces
        if not self.token or not hmac.compare_digest(given.encode(), self.token.encode()):
            self.throttle.failed(address, given)
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


def _login_html(message: str, status: int,
                headers: dict[str, str] | None = None) -> web.Response:
    page = (files(__package__) / "static" / "login.html").read_text(encoding="utf-8")
    shown = f'<p class="problem" role="alert">{message}</p>' if message else ""
    return web.Response(text=page.replace("<!--message-->", shown), status=status,
                        content_type="text/html", headers=headers)


async def _closing(request: web.Request, response: web.Response) -> web.Response:
    """The answer, then the connection closed at once: the rest of the form is never read
    (aiohttp would read it on and drop it for a while, buffers and all)."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response
