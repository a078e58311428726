"""Guessing the token made slow: wrong tokens and sessions counted per address.

A few wrong attempts are free (a person mistypes); after them each further one makes that
address wait, twice as long as the one before, up to five minutes, and while it waits every
credential it sends is answered 429 with Retry-After without being compared (an answer that
said "right" would let the guessing go on). A valid session cookie still passes: it cannot be
guessed, and a neighbour's guessing behind the same address must not sign a user out. The
same wrong value sent again (a browser with a cookie from before a restart, a script with an
old token) counts once. An address's burst ends after a quarter of an hour without a wrong
attempt; IPv6 addresses count by their /64 network (one host has all of it); at most
``max_addresses`` are remembered, the least recent forgotten first.

It also counts the login forms an address has in flight, so held forms cannot take the
connection slots (see ``auth``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..i18n import _

__all__ = ["Throttle", "ThrottleCollector"]


@dataclass(slots=True)
class _Burst:
    count: int = 0  # distinct wrong attempts
    last: float = 0.0  # when the last one came
    until: float = 0.0  # no attempt is compared before this
    seen: deque[bytes] = field(default_factory=lambda: deque(maxlen=8))
    logged: bool = False


class Throttle:
    def __init__(self, *, free: int = 5, longest: float = 300.0, forget: float = 900.0,
                 forms: int = 4, max_addresses: int = 10_000,
                 log: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.longest, self.forget = free, longest, forget
        self.forms_per_address = forms
        self.max_addresses = max_addresses
        self.log = log or logging.getLogger("smartmeter_readout.web")
        self.clock = clock
        self._bursts: OrderedDict[str, _Burst] = OrderedDict()
        self._salt = os.urandom(16)  # wrong values are remembered as salted digests only
        self.forms: Counter[str] = Counter()
        self.failures = 0  # wrong attempts counted
        self.refused = 0  # attempts answered 429 unseen
        self.forms_refused = 0

    @staticmethod
    def key(address: str | None) -> str:
        """Who counts as one: an IPv4 address, an IPv6 /64 network."""
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return address or "?"
        if ip.version == 6 and ip.ipv4_mapped is None:
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)

    def wait(self, address: str | None) -> float:
        """Seconds before ``address`` may try a credential again (0: now)."""
        key = self.key(address)
        burst = self._bursts.get(key)
        if burst is None:
            return 0.0
        now = self.clock()
        if now - burst.last > self.forget and now >= burst.until:
            del self._bursts[key]
            return 0.0
        return max(0.0, burst.until - now)

    def refuse(self) -> None:
        self.refused += 1

    def failed(self, address: str | None, value: str) -> None:
        """A wrong token or session from ``address``; ``value`` is what it sent."""
        key = self.key(address)
        digest = hashlib.blake2b(value.encode(errors="replace"), key=self._salt,
                                 digest_size=16).digest()
        burst = self._bursts.get(key)
        if burst is None:
            burst = self._bursts[key] = _Burst()
            while len(self._bursts) > self.max_addresses:
                self._bursts.popitem(last=False)
        elif digest in burst.seen:
            return
        self._bursts.move_to_end(key)
        now = self.clock()
        burst.seen.append(digest)
        burst.count += 1
        burst.last = now
        self.failures += 1
        over = burst.count - self.free
        if over <= 0:
            return
        wait = min(self.longest, 2.0 ** (over - 1))
        burst.until = now + wait
        if not burst.logged:
            burst.logged = True
            self.log.warning(_("web: %s wrong tokens or sessions from %s: each further "
                               "attempt from there waits longer, up to %s s (counted in "
                               "/metrics as smartmeter_web_auth_failures_total)"),
                             burst.count, key, f"{self.longest:g}")

    def form_opened(self, address: str | None) -> bool:
        """A login form starts to arrive; False: that address has enough in flight."""
        key = self.key(address)
        if self.forms[key] >= self.forms_per_address:
            self.forms_refused += 1
            return False
        self.forms[key] += 1
        return True

    def form_closed(self, address: str | None) -> None:
        key = self.key(address)
        self.forms[key] -= 1
        if self.forms[key] <= 0:
            del self.forms[key]


class ThrottleCollector(Collector):
    """``smartmeter_web_auth_failures_total`` (wrong tokens and sessions),
    ``smartmeter_web_auth_refused_total`` (attempts answered 429 while an address waits),
    ``smartmeter_web_login_forms`` (in flight) and ``..._refused_total`` for ``/metrics``."""

    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("smartmeter_web_auth_failures", "Wrong tokens and session "
                                  "cookies, each value counted once per address",
                                  value=self.throttle.failures)
        yield CounterMetricFamily("smartmeter_web_auth_refused", "Attempts answered 429 "
                                  "unseen while their address waits after wrong ones",
                                  value=self.throttle.refused)
        yield GaugeMetricFamily("smartmeter_web_login_forms", "Login forms arriving now",
                                value=sum(self.throttle.forms.values()))
        yield CounterMetricFamily("smartmeter_web_login_forms_refused", "Login forms "
                                  "refused: their address had enough arriving at once",
                                  value=self.throttle.forms_refused)
