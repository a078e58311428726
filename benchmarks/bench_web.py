"""The web page over a year of 1-second history: first load in Chromium, and each API request.

Builds (once; cached in /tmp unless --rebuild) a SQLite history holding the aggregates of a
year of 1-second readings from the simulator's value model (history_fill, 31.5 million
readings) plus the last day as real raw readings (simulator -> decoder -> store). Then runs
``smartmeter-readout run`` on it (simulated meter, web on a free port) and measures:

- each history request the page makes, and a few heavier ones, N times: p50 / p95 in ms;
- the page's first load in headless Chromium until all three charts are drawn: p50 / p95.

Targets: history requests p95 < 50 ms, first load < 1 s. With a [tariff] (energy price,
base fee, peak price), so the year's quarter hours are settled at the first write and the
summary, peaks and costs are measured too.

``--heavy`` measures what one heavy history request (every value in 15-minute steps over a
year, tens of MB of JSON) does to the service: its RSS before and after (and its peak), and
the status's p50 / p95 while the request runs (issue 27). ``--quick`` builds the year from
one value a minute instead of one a second (seconds instead of minutes; the heavy request
is the same size) in a cache of its own.

    python benchmarks/bench_web.py [--rebuild] [--repeat 30] [--heavy] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smartmeter_readout.decoder import Decoder
from smartmeter_readout.history.fill import fill_history
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.sim.simulator import Simulator

CACHE = Path(tempfile.gettempdir()) / "smartmeter-bench-year.sqlite"
QUICK_CACHE = Path(tempfile.gettempdir()) / "smartmeter-bench-year-minutes.sqlite"
HEAVY = "/api/v1/history?from=-365d&step=15m"
KEY = bytes(range(16))
P, E = "1.0.1.7.0.255,1.0.2.7.0.255", "1.0.1.8.0.255,1.0.2.8.0.255"
REQUESTS = {
    "power, last hour (1m)": f"/api/v1/history?from=-1h&step=1m&obis={P}",
    "power, last day (15m)": f"/api/v1/history?from=-1d&step=15m&obis={P}",
    "power, last week (1h)": f"/api/v1/history?from=-7d&step=1h&obis={P}",
    "energy, 30 days (1d)": f"/api/v1/history?from=-30d&step=1d&obis={E}",
    "energy, 12 months (1mo)": f"/api/v1/history?from=-365d&step=1mo&obis={E}",
    "15-min profile of a day": f"/api/v1/history?from=yesterday&to=today&step=15m&obis={E},{P}",
    "all values, a year by day": "/api/v1/history?from=-365d&step=1d",
    "all values, a year by month": "/api/v1/history?from=-365d&step=1mo",
    "raw readings, last 5 min": "/api/v1/history?from=-5m&step=raw",
    "summary (5 periods, cost, peak)": "/api/v1/summary",
    "peaks, a year by month": "/api/v1/peaks?from=-365d&step=1mo",
    "costs, 30 days by day": "/api/v1/costs?from=-30d&step=1d",
    "costs, a year by month": "/api/v1/costs?from=-365d&step=1mo",
    "status": "/api/v1/status",
    "latest reading": "/api/v1/reading",
}


def build(path: Path, resolution: int = 1) -> None:
    started = time.perf_counter()
    path.unlink(missing_ok=True)
    store = HistoryStore(path)
    now = datetime.now(UTC).replace(microsecond=0)
    simulator = Simulator("vkw", key=KEY)
    raw_from = now - timedelta(days=1)
    made = fill_history(store, now - timedelta(days=365), raw_from, resolution=resolution,
                        model=simulator.model)
    print(f"made-up aggregates of {made:,} {resolution}-second readings: "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    decoder = Decoder(KEY)
    batch = []
    for second in range(int((now - raw_from).total_seconds())):
        batch += decoder.feed(simulator.push(raw_from + timedelta(seconds=second)).wire)
        if len(batch) >= 500:
            store.write(batch)
            batch = []
    store.write(batch)
    store.close()
    print(f"history built in {time.perf_counter() - started:.0f} s: "
          f"{path.stat().st_size / 1e6:.0f} MB", flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms"


def first_loads(url: str, repeat: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        for _ in range(repeat):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            started = time.perf_counter()
            page.goto(url)
            for chart in ("power-chart", "energy-chart", "profile-chart"):
                page.locator(f"#{chart}[data-points]").wait_for(state="attached")
            times.append((time.perf_counter() - started) * 1000)
            context.close()
        browser.close()
    return times


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process, MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if line.startswith(("VmRSS", "VmHWM")))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def heavy(base: str, pid: int) -> None:
    """One heavy history request while the status is asked for again and again."""
    import threading

    for _ in range(5):
        fetch(base + "/api/v1/status")
    before, _peak = rss_mb(pid)
    alone = sorted(fetch(base + "/api/v1/status") for _ in range(50))
    done = threading.Event()
    size = [0]

    def load() -> None:
        started = time.perf_counter()
        with urllib.request.urlopen(base + HEAVY, timeout=120) as response:
            while chunk := response.read(1 << 16):
                size[0] += len(chunk)
        size.append(time.perf_counter() - started)
        done.set()

    thread = threading.Thread(target=load)
    thread.start()
    during = []
    while not done.is_set():
        during.append(fetch(base + "/api/v1/status"))
    thread.join()
    after, peak = rss_mb(pid)
    print(f"  heavy request {HEAVY}: {size[0] / 1e6:.1f} MB of JSON in {size[1]:.1f} s")
    print(f"  {'status alone':30s} {percentiles(alone)}")
    print(f"  {'status during it':30s} {percentiles(during)} ({len(during)} requests)")
    print(f"  service RSS: {before:.0f} MB before, {after:.0f} MB after, peak {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--heavy", action="store_true", help="the heavy request only")
    parser.add_argument("--quick", action="store_true", help="a year of minute values")
    args = parser.parse_args()
    cache = QUICK_CACHE if args.quick else CACHE
    if args.rebuild or not cache.exists():
        build(cache, 60 if args.quick else 1)
    work = Path(tempfile.mkdtemp(prefix="smartmeter-bench-web-"))
    db = work / "history.sqlite"
    shutil.copy(cache, db)
    port = free_port()
    env = {**os.environ, "SMARTMETER_SOURCE_SIMULATE": "vkw", "SMARTMETER_SOURCE_INTERVAL": "1",
           "SMARTMETER_SQLITE_PATH": str(db), "SMARTMETER_WEB_PORT": str(port),
           "SMARTMETER_METER_KEY": KEY.hex(), "SMARTMETER_TARIFF_ENERGY_PRICE": "0.25",
           "SMARTMETER_TARIFF_BASE_FEE": "4.5", "SMARTMETER_TARIFF_PEAK_PRICE": "1.5"}
    service = subprocess.Popen([sys.executable, "-m", "smartmeter_readout", "run"], env=env,
                               stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                fetch(base + "/api/v1/reading")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        print(f"history: {cache.stat().st_size / 1e6:.0f} MB, a year of aggregates + a day raw")
        if args.heavy:
            heavy(base, service.pid)
            return
        settled = time.monotonic()
        while not json.loads(urllib.request.urlopen(base + "/api/v1/summary").read())[
                "periods"]["this_year"]["cost"]:
            time.sleep(0.2)  # the first write settles the year's quarter hours
        print(f"  {'a year of costs settled in':30s} {time.monotonic() - settled:.1f} s "
              "(from the service's start)")
        for name, path in REQUESTS.items():
            fetch(base + path)  # warm
            samples = [fetch(base + path) for _ in range(args.repeat)]
            print(f"  {name:30s} {percentiles(samples)}")
        loads = first_loads(base + "/", max(5, args.repeat // 3))
        print(f"  {'first load (charts drawn)':30s} {percentiles(loads)}")
    finally:
        service.terminate()
        service.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
