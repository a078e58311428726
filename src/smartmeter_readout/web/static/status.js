// The status card and the counter notes of the page: what /api/v1/status says in machine
// words (source states, connector names, framing, layouts, security, outputs, the last
// problem's kind) said in the page's language. The service's own sentences are in the
// service's language, which need not be the page's: they go into the title (shown on
// hover), the visible text is the page's. lang.js, loaded before, brings $, t, tf, number
// and whole; app.js, loaded after, brings clock, shortDay and counterName, and calls
// statusCard and counterResets.
"use strict";

// SourceState of live/reader.py
const SOURCE_STATES = () => ({
  starting: t("starting"),
  unavailable: t("source not reachable, trying again"),
  connected: t("connected, waiting for the first push"),
  detecting: t("looking for the line's settings"),
  found: t("line settings found"),
  receiving: t("reading pushes"),
  no_frames: t("bytes arrive but no valid push"),
  cut_short: t("frames arrive cut short: bytes are lost between meter and reader"),
  silent: t("the meter sends nothing (cable or adapter loose?)"),
  lost: t("connection lost, trying again"),
  finished: t("the recording has ended"),
  key_missing: t("encrypted pushes, but no key given"),
  wrong_key: t("the key does not decrypt the pushes"),
  tag_mismatch: t("the authentication key does not match"),
  unknown_layout: t("pushes of an unknown layout"),
  malformed: t("pushes arrive but cannot be read"),
});
const stateText = (state) => SOURCE_STATES()[state] || state;

// EventKind of events.py that are problems
const PROBLEMS = () => ({
  bad_frame: t("a broken frame (checksum wrong)"),
  cut_short: t("frames arrive cut short: bytes are lost between meter and reader"),
  segment_lost: t("part of a push was lost"),
  key_missing: t("encrypted pushes, but no key given"),
  wrong_key: t("the key does not decrypt the pushes"),
  tag_mismatch: t("the authentication key does not match"),
  unknown_layout: t("pushes of an unknown layout"),
  malformed: t("pushes arrive but cannot be read"),
  implausible_values: t("values that do not fit each other"),
});

// the connectors' names (sources/*.py): a serial device is its path, a name of its own
function sourceName(name) {
  let found = /^simulated (\S+) meter$/.exec(name);
  if (found) return tf("simulated meter ({profile})", { profile: found[1] });
  found = /^tcp (.+)$/.exec(name);
  if (found) return tf("serial bridge {address}", { address: found[1] });
  found = /^replay (.+)$/.exec(name);
  if (found) return tf("recording {file}", { file: found[1] });
  return name;
}

const FRAMINGS = { mbus: "M-Bus", hdlc: "HDLC", dsmr: "DSMR (P1)" };

// the body layouts of cosem/layouts.py (OPERATORS.md); the rest are positional, by name
const LAYOUTS = () => ({
  A: t("OBIS codes in structures"), B: t("OBIS codes with scaler and unit"),
  C: t("OBIS codes and values"), E: t("with the push's object list"), F: t("DSMR text"),
  G: t("M-Bus records (OMS)"),
});

function layoutName(layout) {
  const known = LAYOUTS()[layout];
  return known ? `${known} (${layout})` : tf("by position ({name})", { name: layout });
}

const SECURITY = () => ({ none: t("unencrypted"), encrypted: t("encrypted"),
  authenticated: t("encrypted and authenticated") });

const OUTPUTS = () => ({ sqlite: "SQLite", mqtt: "MQTT", influxdb: "InfluxDB",
  postgres: "PostgreSQL", console: t("console") });

// "Mitteleuropäische Zeit (Europe/Vienna)": the name people read, the one the config takes
function timeZoneName(zone) {
  if (!zone) return "";
  try {
    const parts = new Intl.DateTimeFormat(i18n.locale, { timeZone: zone,
      timeZoneName: "longGeneric" }).formatToParts(new Date());
    const name = (parts.find((part) => part.type === "timeZoneName") || {}).value;
    return name && name !== zone ? `${name} (${zone})` : zone;
  } catch (error) {
    return zone;  // a zone this browser does not know
  }
}

function addPair(list, label, text, cls, title) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = text;
  if (cls) dd.className = cls;
  if (title) dd.title = title;
  list.append(dt, dd);
  return dd;
}

function ageText(seconds) {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${number(1, seconds / 3600)} h`;
}

function statusCard(status) {
  const list = $("status");
  list.replaceChildren();
  const source = status.source;
  const serial = [source.baud ? `${source.baud} Baud` : "",
    source.baud && source.parity ? `8${source.parity}1` : ""].filter(Boolean).join(" ");
  const line = [serial, FRAMINGS[source.framing] || source.framing || ""].filter(Boolean)
    .join(", ");
  addPair(list, t("Source"), sourceName(source.name));
  addPair(list, t("State"), stateText(source.state),
    ["receiving", "found"].includes(source.state) ? "ok" : "", source.message);
  addPair(list, t("Interface"), line || t("not detected yet"));
  addPair(list, t("Operator"), source.operator === "auto" ? t("automatic") : source.operator);
  addPair(list, t("Time zone"), timeZoneName(status.time_zone));
  if (status.push_interval_seconds) {
    addPair(list, t("Push interval"), tf("every {seconds} s", {
      seconds: number(status.push_interval_seconds < 10 ? 1 : 0,
        status.push_interval_seconds) }));
  }
  const last = status.last_reading;
  if (last && last.layout) addPair(list, t("Push layout"), layoutName(last.layout));
  if (last && last.security) {
    addPair(list, t("Security"), SECURITY()[last.security] || last.security);
  }
  if ((status.meters || []).length > 1) {
    for (const m of status.meters) {
      const who = m.meter ? [m.meter.manufacturer, m.meter.id || m.meter.system_title]
        .filter(Boolean).join(" ") : "";
      const age = m.last_reading_age === null ? t("no reading yet")
        : tf("last value {age} ago", { age: ageText(m.last_reading_age) });
      const state = m.stopped ? t("stopped, tried again later") : stateText(m.source.state);
      addPair(list, m.name, [who, state, age].filter(Boolean).join(" · "),
        m.stopped ? "bad" : "", m.stopped || m.source.message);
    }
  } else if (status.meter) {
    const m = status.meter;
    addPair(list, t("Meter"), [m.manufacturer, m.id || m.system_title].filter(Boolean).join(" "));
  }
  const pushes = status.pushes;
  addPair(list, t("Pushes"), tf("{ok} ok, {bad} bad", { ok: whole(pushes.ok),
    bad: whole(pushes.bad) }), pushes.bad ? "bad" : "ok");
  addPair(list, t("Decryption failures"), whole(pushes.decryption_failed),
    pushes.decryption_failed ? "bad" : "");
  addPair(list, t("Tag failures"), whole(pushes.tag_mismatch), pushes.tag_mismatch ? "bad" : "");
  addPair(list, t("Bad frames"), whole(pushes.frames_bad));
  addPair(list, t("Implausible values"), whole(pushes.implausible_values || 0),
    pushes.implausible_values ? "bad" : "");
  addPair(list, t("Reconnects"), whole(source.reconnects));
  const error = status.last_error;
  addPair(list, t("Last error"), error ? PROBLEMS()[error.kind] || t("another problem")
    : t("none"), error ? "bad" : "", error ? error.message : "");
  const body = $("outputs").tBodies[0];
  body.replaceChildren();
  for (const output of status.outputs) {
    const row = body.insertRow();
    const cells = [OUTPUTS()[output.name] || output.name,
      output.up ? t("up") : t("down, retrying"),
      output.backlog, output.delivered, output.failures, output.dropped];
    cells.forEach((text, i) => {
      const cell = row.insertCell();
      cell.textContent = typeof text === "number" ? whole(text) : text;
      if (i === 1) {
        cell.className = output.up ? "ok" : "bad";
        if (output.error) cell.title = output.error;
      }
    });
  }
}

// The service's note when a counter went down (a meter replaced or restarted): the history
// counts a new series from there. Newest first; of several meters, the shown one's, or all
// of them with their names (``several``: the page shows the sum).
function counterResets(resets, shownMeter, several) {
  const note = $("resets");
  // a replaced meter drops all its counters at once: the newest drops, energy import first
  const rank = ["active_energy_import", "active_energy_export", "reactive_energy_import",
    "reactive_energy_export"];
  const order = (name) => (rank.includes(name) ? rank.indexOf(name) : rank.length);
  const shown = resets.filter((reset) => !shownMeter || reset.meter === shownMeter)
    .sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || order(a.name) - order(b.name))
    .slice(0, 4);
  note.hidden = !shown.length;
  note.replaceChildren();
  for (const reset of shown) {
    const moment = new Date(reset.time);
    const reactive = reset.name.startsWith("reactive");
    const counter = { active_energy_import: t("import"), active_energy_export: t("export"),
      reactive_energy_import: t("reactive import"),
      reactive_energy_export: t("reactive export") }[reset.name] || counterName(reset.name);
    // kWh to the Wh, more where a small drop would read as none
    let digits = 3;
    const same = (n) => number(n, reset.before / 1000) === number(n, reset.after / 1000);
    while (digits < 6 && same(digits)) digits += 1;
    const line = document.createElement("p");
    line.textContent = (several && reset.meter ? `${reset.meter}: ` : "") + tf(
      "The {counter} counter fell on {day} at {time} from {before} to {after} {unit} (meter " +
      "replaced or restarted): a new series counts from there.", {
        counter, day: shortDay(moment), time: clock(moment),
        before: number(digits, reset.before / 1000), after: number(digits, reset.after / 1000),
        unit: reactive ? "kvarh" : "kWh" });
    note.append(line);
  }
}
