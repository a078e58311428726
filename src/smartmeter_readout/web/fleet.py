"""The fleet's API, for ``[web] store = "postgres"`` (served by ``collect``):

- ``GET /api/v1/fleet/meters``: every meter with its last reading's time, age and values;
- ``GET /api/v1/fleet/groups``: the groups of the config (``[[groups]]``) and their size;
- ``GET /api/v1/fleet/groups/<name>?from=&to=``: the group's import, export and
  self-supplied share per quarter hour (default: today in ``[meter] timezone``);
- ``GET /api/v1/fleet/csv?month=YYYY-MM&meter=`` (or ``&group=``): the month's quarter hours
  of a member (or of every member of a group) as CSV;
- ``GET /api/v1/openapi.json``: the description of all of the above.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any

from aiohttp import web

from .. import __version__
from ..fleet.rows import EARLIEST, LATEST, MAX_NAME, fits
from ..fleet.store import StoreUnavailable
from ..fleet.view import FleetView, within_years
from .api import BadRequest, when_param

__all__ = ["FleetApi"]

_MAX_DAYS = 31


class FleetApi:
    def __init__(self, view: FleetView) -> None:
        self.view = view

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/v1/fleet/meters", self.meters),
                web.get("/api/v1/fleet/groups", self.groups),
                web.get("/api/v1/fleet/groups/{name}", self.group),
                web.get("/api/v1/fleet/csv", self.csv),
                web.get("/api/v1/openapi.json", self.openapi)]

    async def openapi(self, request: web.Request) -> web.Response:
        text = (files(__package__) / "fleet-openapi.json").read_text(encoding="utf-8")
        return web.Response(text=text.replace("{version}", __version__),
                            content_type="application/json")

    async def meters(self, request: web.Request) -> web.Response:
        now = datetime.now(self.view.tz)
        return web.json_response({"time_zone": str(self.view.tz),
                                  "meters": await self._ask(self.view.meters(now))})

    async def groups(self, request: web.Request) -> web.Response:
        return web.json_response({"groups": [
            {"name": name, "members": len(members)}
            for name, members in self.view.groups.items()]})

    async def group(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.view.groups:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no group {name!r}: the "
                                                    "groups are [[groups]] in the config"}),
                                   content_type="application/json")
        now = datetime.now(self.view.tz)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        until = self._when(request, "to", now, now)
        since = self._when(request, "from", midnight if until == now else
                           until - timedelta(days=1), now)
        if since >= until:
            raise BadRequest("from must be before to")
        if until - since > timedelta(days=_MAX_DAYS):
            raise BadRequest(f"at most {_MAX_DAYS} days of quarter hours at a time")
        return web.json_response(await self._ask(self.view.group(name, since, until)))

    async def csv(self, request: web.Request) -> web.Response:
        query = request.query
        month = query.get("month", datetime.now(self.view.tz).strftime("%Y-%m"))
        if "group" in query:
            if query["group"] not in self.view.groups:
                raise BadRequest(f"group={query['group']!r} is not in [[groups]]")
            meters, label = self.view.groups[query["group"]], query["group"]
        elif query.get("meter"):
            if not fits(query["meter"], MAX_NAME):
                raise BadRequest(f"meter={query['meter'][:40]!r}: a meter's name has at most "
                                 f"{MAX_NAME} characters and no NUL")
            meters, label = [query["meter"]], query["meter"]
        else:
            raise BadRequest("give meter=NAME or group=NAME")
        try:
            text = await self._ask(self.view.month_csv(meters, month))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
        return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="{safe}-{month}.csv"'})

    async def _ask(self, query: Any) -> Any:
        try:
            return await query
        except StoreUnavailable as exc:
            raise web.HTTPServiceUnavailable(text=json.dumps({"error": str(exc)}),
                                             content_type="application/json") from None

    def _when(self, request: web.Request, name: str, default: datetime,
              now: datetime) -> datetime:
        """A ``from`` or ``to`` of the years readings lie in: the day before year 1 or after
        year 9999 would be an OverflowError (a 500) further on."""
        moment = when_param(request.query, name, default, now, self.view.tz)
        if name in request.query and not within_years(moment):
            raise BadRequest(f"{name}={request.query.get(name)!r}: the fleet's readings lie "
                             f"in the years {EARLIEST.year} to {LATEST.year - 1}")
        return moment

    async def close(self) -> None:
        await self.view.close()
