"""Run by the Python of a venv with the ``homeassistant`` package: a real Home Assistant in
this process (core, recorder on a SQLite file, the MQTT integration set up through its own
config flow against the test's Mosquitto) receives our discovery and summary messages on a
clock of its own, and compiles its long-term statistics as it does every five minutes.

The clock: Home Assistant stamps states with ``time.time()`` and asks ``dt_util.utcnow()``
which period to compile; both are moved here (as Home Assistant's own tests move them for
freezegun), so the messages can fall into the 5-minute periods around a midnight without the
test waiting for one. Time only moves forward; each 5-minute period is compiled as soon as
the clock has passed its end, in order, as the recorder's periodic task would.

stdin: JSON {"port", "time_zone", "steps": [{"at": ISO time, "publish": [[topic, payload,
retain]], "expect": {unique_id: {"state": float | None, "last_reset": ISO | None}}}],
"end": ISO time}. Each step waits (for events, up to a ceiling) until every expectation
holds. stdout: JSON {"version", "error", "steps": [{unique_id: {"state", "attributes"}}],
"statistics": {unique_id: {"5minute": [...], "hour": [...]}}, "warnings": [[logger,
message]]}.
"""

import time

_REAL_TIME = time.time


class Clock:
    """Real time plus an offset that only grows."""

    offset = 0.0

    def time(self):
        return _REAL_TIME() + self.offset


CLOCK = Clock()
time.time = CLOCK.time  # before Home Assistant binds it (helpers.event keeps a reference)

import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from homeassistant import bootstrap, config_entries, core, loader, util  # noqa: E402
from homeassistant import config as conf_util  # noqa: E402
from homeassistant.components import mqtt, recorder  # noqa: E402
from homeassistant.components.recorder.statistics import statistics_during_period  # noqa: E402
from homeassistant.components.recorder.tasks import StatisticsTask  # noqa: E402
from homeassistant.const import EVENT_STATE_CHANGED, __version__  # noqa: E402
from homeassistant.helpers import entity_registry  # noqa: E402
from homeassistant.helpers import event as event_helper  # noqa: E402
from homeassistant.helpers import recorder as recorder_helper  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402

CEILING = 120.0  # seconds for any one thing to happen; a ceiling, never a wait
HEAD_START = 600.0  # Home Assistant starts this long (on its clock) before the first step


def _utcnow():
    return datetime.fromtimestamp(time.time(), UTC)


def _now(time_zone=None):
    return _utcnow().astimezone(time_zone or dt_util.DEFAULT_TIME_ZONE)


dt_util.utcnow = _utcnow
dt_util.now = _now
util.utcnow = _utcnow
event_helper.time_tracker_utcnow = _utcnow


class Warnings(logging.Handler):
    """Every warning Home Assistant logs, to judge them in the test."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append([record.name, record.getMessage()])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def period_start(moment):
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


class Run:
    def __init__(self, hass, spec):
        self.hass = hass
        self.spec = spec
        self.changed = asyncio.Event()
        self.compiled_until = None  # the start of the next period to compile

    async def until(self, check, what):
        """Wait for state changes until ``check()`` holds."""
        deadline = asyncio.get_running_loop().time() + CEILING
        while not check():
            self.changed.clear()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"Home Assistant did not reach: {what}")
            try:
                async with asyncio.timeout(left):
                    await self.changed.wait()
            except TimeoutError:
                pass

    def entity_id(self, unique_id):
        return entity_registry.async_get(self.hass).async_get_entity_id(
            "sensor", mqtt.DOMAIN, unique_id)

    async def advance(self, moment):
        """Move the clock to ``moment`` and compile every period it passed, in order."""
        now = _utcnow()
        if moment < now:
            raise TimeoutError(f"the clock is past {moment} already: Home Assistant took more "
                               "than the run's head start to get there")
        CLOCK.offset += (moment - now).total_seconds()
        instance = recorder.get_instance(self.hass)
        if self.compiled_until is None:
            self.compiled_until = period_start(moment)
        while self.compiled_until + timedelta(minutes=5) <= _utcnow():
            instance.queue_task(StatisticsTask(self.compiled_until, False))
            self.compiled_until += timedelta(minutes=5)
        await instance.async_block_till_done()

    def matches(self, expect):
        for unique_id, wanted in expect.items():
            entity_id = self.entity_id(unique_id)
            state = entity_id and self.hass.states.get(entity_id)
            if not state or state.state == "unavailable":
                return False
            value = None if state.state in ("unknown", "unavailable") else float(state.state)
            if value != wanted["state"]:
                return False
            if state.attributes.get("last_reset") != wanted.get("last_reset"):
                return False
        return True

    def observed(self, unique_ids):
        seen = {}
        for unique_id in unique_ids:
            entity_id = self.entity_id(unique_id)
            if state := entity_id and self.hass.states.get(entity_id):
                seen[unique_id] = {"state": state.state, "attributes": dict(state.attributes)}
        return seen

    async def statistics(self, unique_ids):
        ids = {self.entity_id(unique_id): unique_id for unique_id in unique_ids}
        first = period_start(datetime.fromisoformat(self.spec["steps"][0]["at"]))
        out = {unique_id: {} for unique_id in unique_ids}
        for period in ("5minute", "hour"):
            rows = await recorder.get_instance(self.hass).async_add_executor_job(
                statistics_during_period, self.hass, first - timedelta(hours=1), None,
                set(ids), period, None, {"state", "sum", "last_reset"})
            for entity_id, unique_id in ids.items():
                out[unique_id][period] = [
                    {"start": datetime.fromtimestamp(row["start"], UTC).isoformat(),
                     "state": row.get("state"), "sum": row.get("sum"),
                     "last_reset": (datetime.fromtimestamp(row["last_reset"], UTC).isoformat()
                                    if row.get("last_reset") is not None else None)}
                    for row in rows.get(entity_id, [])]
        return out


async def start_home_assistant(config_dir, spec):
    with open(f"{config_dir}/configuration.yaml", "w", encoding="utf-8") as yaml:
        yaml.write("{}\n")  # read by the MQTT integration for its entities in YAML: none
    hass = core.HomeAssistant(config_dir)
    loader.async_setup(hass)
    hass.config.skip_pip = True
    hass.config_entries = config_entries.ConfigEntries(hass, {})
    await bootstrap.async_load_base_functionality(hass)
    assert await async_setup_component(hass, "homeassistant", {})
    await conf_util.async_process_ha_core_config(hass, {
        "name": "smartmeter-readout test", "latitude": 48.2, "longitude": 16.37,
        "elevation": 170, "unit_system": "metric", "time_zone": spec["time_zone"],
        "currency": "EUR", "country": "AT"})
    assert await async_setup_component(hass, "http", {"http": {
        "server_host": "127.0.0.1", "server_port": free_port()}})
    recorder_helper.async_initialize_recorder(hass)  # as bootstrap does before its setup
    assert await async_setup_component(hass, "recorder", {"recorder": {
        "db_url": f"sqlite:///{config_dir}/home-assistant_v2.db", "commit_interval": 0}})
    await hass.async_start()
    instance = recorder.get_instance(hass)
    async with asyncio.timeout(CEILING):
        await instance.async_recorder_ready.wait()
    await instance.async_block_till_done()  # the catch-up of missed periods is done
    # the MQTT integration as a user sets it up: its config flow tries the broker
    flow = await hass.config_entries.flow.async_init(mqtt.DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"broker": "127.0.0.1", "port": spec["port"]})
    assert result["type"] == "create_entry", result
    await hass.async_block_till_done()
    return hass


async def main(spec):
    warnings = Warnings()
    logging.getLogger().addHandler(warnings)
    unique_ids = sorted({key for step in spec["steps"] for key in step["expect"]})
    answer = {"version": __version__, "error": None, "steps": [], "statistics": {},
              "warnings": warnings.records}
    first = datetime.fromisoformat(spec["steps"][0]["at"]).astimezone(UTC)
    CLOCK.offset = (first - datetime.now(UTC)).total_seconds() - HEAD_START
    with tempfile.TemporaryDirectory(prefix="ha-config-") as config_dir:
        hass = await start_home_assistant(config_dir, spec)
        run = Run(hass, spec)
        hass.bus.async_listen(EVENT_STATE_CHANGED, lambda _event: run.changed.set())
        try:
            for number, step in enumerate(spec["steps"]):
                await run.advance(datetime.fromisoformat(step["at"]).astimezone(UTC))
                for topic, payload, retain in step["publish"]:
                    await mqtt.async_publish(hass, topic, payload, qos=1, retain=retain)
                await run.until(lambda step=step: run.matches(step["expect"]),
                                f"step {number}: {step['expect']}")
                answer["steps"].append(run.observed(unique_ids))
            await run.advance(datetime.fromisoformat(spec["end"]).astimezone(UTC))
            answer["statistics"] = await run.statistics(unique_ids)
        except (TimeoutError, AssertionError) as exc:
            answer["error"] = str(exc)
            answer["steps"].append(run.observed(unique_ids))
        finally:
            await hass.async_stop()
    return answer


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = asyncio.run(main(json.load(sys.stdin)))
    json.dump(result, sys.stdout, default=str)
