// The page: live values from /api/v1/events, the summary from /api/v1/summary, charts from
// /api/v1/history, drawn as plain SVG. Texts come from the gettext catalogues of the package
// (src/smartmeter_readout/i18n/locale/*/LC_MESSAGES/page.po, served as /static/locale/*.json);
// times follow the meter's time zone. A service that reads several meters ([[meters]]) gets
// a selector: one meter, or all of them added up (a building). How old the newest value is
// comes from its own receive time (the service's clock) against the clock now, so a page
// opened long after the meter fell silent says so at once; what the API names in machine
// words (states, sources, layouts) the page says in its own language (status.js).
// lang.js, loaded before, brings $, t, tf, useLanguage, languageButton, number, whole and
// api.
"use strict";

const OBIS = {
  powerImport: "1.0.1.7.0.255", powerExport: "1.0.2.7.0.255",
  energyImport: "1.0.1.8.0.255", energyExport: "1.0.2.8.0.255",
};
const SVG = "http://www.w3.org/2000/svg";
// ---- time -------------------------------------------------------------------------------

const live = { receivedAt: null, connected: false, sourceState: "", intervals: {},
  lastTimes: [], tz: undefined, peakWarning: null, quarter: null,
  meters: [], selected: null, byMeter: {}, resets: [] };
const ALL = "*";

function when(date, options) {
  return date.toLocaleString(i18n.locale, { timeZone: live.tz, ...options });
}
const clock = (d) => when(d, { hour: "2-digit", minute: "2-digit" });
const clockSeconds = (d) => when(d, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dayKey = (d) => when(d, { year: "numeric", month: "numeric", day: "numeric" });
// "7.12." in German, "7 Dec" in English; with the year when it is not this one
const shortDay = (d) => when(d, { day: "numeric", month: i18n.lang === "de" ? "numeric" : "short",
  ...(when(d, { year: "numeric" }) === when(new Date(), { year: "numeric" }) ? {}
    : { year: "numeric" }) });
const dayMonth = (d) => when(d, { day: "numeric", month: "short" });
const monthYear = (d) => when(d, { month: "short", year: "numeric" });
const dayAndClock = (d) => when(d, { day: "numeric", month: "short", hour: "2-digit",
  minute: "2-digit" });

// ---- live -------------------------------------------------------------------------------

function watts(value) {
  if (value === null || value === undefined) return "–";
  return Math.abs(value) >= 10000 ? `${number(2, value / 1000)} kW` : `${whole(value)} W`;
}

function valueByName(reading, name) {
  for (const value of Object.values(reading.values)) if (value.name === name) return value;
  return null;
}

// When a reading arrived at the service: its receive time (the service's clock; the meter's
// own clock may be off), else the meter's time.
function receivedAt(reading) {
  const at = Date.parse(reading.received || reading.time || "");
  return Number.isNaN(at) ? null : at;
}

function pushInterval() {
  // the shown meter's push interval: the service's median of its last gaps, else the gaps
  // the page saw itself, else 15 s (meters push every 1 to 15 s)
  const known = live.selected === ALL ? Math.max(0, ...Object.values(live.intervals))
    : live.intervals[live.selected ?? ""];
  if (known) return Math.max(1, known);
  const times = live.lastTimes;
  if (times.length < 3) return 15;
  const gaps = times.slice(1).map((time, i) => time - times[i]).sort((a, b) => a - b);
  return Math.max(1, gaps[Math.floor(gaps.length / 2)] / 1000);
}

// A value is live while it is younger than three push intervals (at least 10 s: the page's
// and the service's clocks, and the way between them, may differ by a few seconds).
const notLiveAfter = () => Math.max(10, 3 * pushInterval());

function showReading(reading) {
  const at = receivedAt(reading);
  if (at !== null && at !== live.lastTimes[live.lastTimes.length - 1]) {
    live.lastTimes = [...live.lastTimes.slice(-9), at];
  }
  live.receivedAt = at;
  const values = reading.values;
  const imp = values[OBIS.powerImport] ? values[OBIS.powerImport].value : null;
  const exp = values[OBIS.powerExport] ? values[OBIS.powerExport].value : null;
  const net = (imp ?? 0) - (exp ?? 0);
  const big = $("net");
  big.textContent = imp === null && exp === null ? "–" : watts(net);
  big.dataset.direction = net > 0 ? "import" : net < 0 ? "export" : "";
  $("p-import").textContent = watts(imp);
  $("p-export").textContent = watts(exp);
  watchQuarter(reading, imp);
  for (const name of ["voltage_l1", "voltage_l2", "voltage_l3",
    "current_l1", "current_l2", "current_l3"]) {
    const value = valueByName(reading, name);
    $(name).textContent = value ? `${number(name.startsWith("v") ? 1 : 2, value.value)} ${
      value.unit}` : "–";
  }
  const counters = $("counters");
  counters.replaceChildren();
  for (const value of Object.values(values)) {
    if (!["Wh", "varh", "VAh"].includes(value.unit)) continue;
    addPair(counters, counterName(value.name), `${number(3, value.value / 1000)} k${value.unit}`);
  }
  live.shown = reading;
  const meter = reading.meter || {};
  $("meter-id").textContent = live.selected === ALL ? ""
    : [meter.name, meter.id || meter.system_title].filter(Boolean).join(" · ");
  showAge();
}

// ---- several meters ---------------------------------------------------------------------

// what adds up across the meters of a building; voltages, currents and frequency do not
const ADDITIVE = ["W", "Wh", "var", "varh", "VA", "VAh"];

function sumOf(readings) {
  const values = {};
  let time = null, received = null;
  for (const reading of readings) {
    if (reading.time && (!time || reading.time > time)) time = reading.time;
    if (reading.received && (!received || reading.received > received)) {
      received = reading.received;
    }
    for (const [obis, value] of Object.entries(reading.values)) {
      if (!ADDITIVE.includes(value.unit) || typeof value.value !== "number") continue;
      const total = values[obis] || (values[obis] = { ...value, value: 0 });
      total.value += value.value;
    }
  }
  return { time, received, meter: { name: t("All meters") }, values };
}

function onReading(reading) {
  if (live.meters.length < 2) { showReading(reading); return; }
  const name = (reading.meter || {}).name;
  live.byMeter[name] = reading;
  if (live.selected === ALL) showReading(sumOf(Object.values(live.byMeter)));
  else if (name === live.selected) showReading(reading);
}

function meterQuery() {
  return live.meters.length > 1 ? `&meter=${encodeURIComponent(live.selected)}` : "";
}

function setMeters(meters, refresh) {
  const names = meters.map((m) => m.name).filter(Boolean);
  if (names.length < 2 || names.join("\n") === live.meters.join("\n")) return;
  live.meters = names;
  const saved = localStorage.getItem("meter");
  live.selected = names.includes(saved) || saved === ALL ? saved : ALL;
  const select = $("meter-select");
  select.replaceChildren();
  for (const [value, label] of [[ALL, t("All meters (sum)")], ...names.map((n) => [n, n])]) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    option.selected = value === live.selected;
    select.append(option);
  }
  $("meter-choice").hidden = false;
  for (const meter of meters) if (meter.reading) live.byMeter[meter.name] = meter.reading;
  const show = () => {
    const shown = live.selected === ALL ? sumOf(Object.values(live.byMeter))
      : live.byMeter[live.selected];
    if (shown) showReading(shown);
    refresh();
  };
  select.onchange = () => {
    live.selected = select.value;
    localStorage.setItem("meter", live.selected);
    live.lastTimes = [];
    live.quarter = null;
    live.receivedAt = null;
    show();
    showResets();
  };
  show();
}

// Where the running quarter hour is heading: its import so far (the counter since the
// first reading of it, the power before that) plus the present power to its end, as the
// average power the grid fee's peak is measured in. Amber from 90 % of [web] peak_warning.
function watchQuarter(reading, power) {
  const counter = reading.values[OBIS.energyImport];
  const note = $("peak");
  const big = $("net");
  if (!live.peakWarning || !counter || power === null || !reading.time) {
    note.hidden = true; delete big.dataset.peak; return;
  }
  const now = Date.parse(reading.time) / 1000;
  const start = Math.floor(now / 900) * 900;
  if (!live.quarter || live.quarter.start !== start) {
    live.quarter = { start, firstAt: now, firstWh: counter.value };
  }
  const q = live.quarter;
  const soFar = counter.value - q.firstWh + power * (q.firstAt - start) / 3600;
  const heading = (soFar + power * (start + 900 - now) / 3600) * 4;
  const level = heading >= live.peakWarning ? "over"
    : heading >= 0.9 * live.peakWarning ? "near" : "";
  if (level) big.dataset.peak = level; else delete big.dataset.peak;
  note.hidden = false;
  note.dataset.peak = level;
  note.textContent = tf("this quarter hour heads for {heading} (warning at {limit})", {
    heading: watts(heading), limit: watts(live.peakWarning) });
}

function counterName(name) {
  const names = {
    active_energy_import: t("Energy import"), active_energy_export: t("Energy export"),
    reactive_energy_import: t("Reactive energy import"),
    reactive_energy_export: t("Reactive energy export"),
  };
  return names[name] || name.replaceAll("_", " ");
}

// The header's live line and the note under the big number: live, or since when not.
function showAge() {
  const at = live.receivedAt;
  const age = at === null ? null : Math.max(0, (Date.now() - at) / 1000);
  const fresh = age !== null && age < notLiveAfter();
  let state = "offline", text = t("not connected to the service");
  if (live.connected) {
    state = fresh ? "live" : "stale";
    text = fresh ? t("live") : age === null ? t("connected, no reading yet") : notLive(at);
  } else if (at !== null) {
    state = "reconnecting"; text = t("reconnecting…");
  }
  $("conn").dataset.state = state;
  $("conn-text").textContent = text;
  $("age").textContent = age === null ? t("no reading yet")
    : state === "stale" ? tf("{age} ago", { age: ageText(age) })
      : tf("last value {age} ago", { age: ageText(age) });
  // a value that is not current must not look current
  const stale = age !== null && (!live.connected || !fresh);
  $("net").classList.toggle("stale", stale);
  const note = $("stale");
  note.hidden = !stale;
  if (stale) {
    const why = live.connected && live.sourceState && live.sourceState !== "receiving"
      ? ` · ${stateText(live.sourceState)}` : "";
    note.textContent = notLive(at) + why;
  }
}

function notLive(at) {
  const moment = new Date(at);
  if (dayKey(moment) === dayKey(new Date())) {
    return tf("not live, last value at {time}", { time: clockSeconds(moment) });
  }
  return tf("not live, last value on {day} at {time}", { day: shortDay(moment),
    time: clockSeconds(moment) });
}

function showStatus(status) {
  live.status = status;
  live.sourceState = status.source.state;
  if (status.time_zone && live.tz !== status.time_zone) live.tz = status.time_zone;
  live.peakWarning = status.peak_warning_w || null;
  live.intervals = { "": status.push_interval_seconds };
  for (const m of status.meters || []) {
    if (m.name) live.intervals[m.name] = m.push_interval_seconds;
  }
  if (status.last_reading && live.receivedAt === null && live.meters.length < 2) {
    live.receivedAt = receivedAt(status.last_reading);  // before the reading itself comes
  }
  live.resets = status.counter_resets || [];
  $("version").textContent = status.version;
  statusCard(status);
  showResets();
  showAge();
}

function showResets() {
  const several = live.meters.length > 1;
  counterResets(live.resets, several && live.selected !== ALL ? live.selected : null,
    several && live.selected === ALL);
}

function connect() {
  const events = new EventSource("/api/v1/events");
  events.addEventListener("open", () => { live.connected = true; showAge(); });
  events.addEventListener("error", () => { live.connected = false; showAge(); });
  events.addEventListener("reading", (event) => onReading(JSON.parse(event.data)));
  events.addEventListener("status", (event) => showStatus(JSON.parse(event.data)));
}

// ---- summary ----------------------------------------------------------------------------

const PERIODS = () => ({ today: t("Today"), yesterday: t("Yesterday"),
  this_month: t("This month"), last_month: t("Last month"), this_year: t("This year") });
const kwh = (wh) => wh === null || wh === undefined ? "–" : number(wh < 100000 ? 2 : 0, wh / 1000);

async function loadSummary() {
  const body = $("summary").tBodies[0];
  let data;
  try { data = await api(`/api/v1/summary?${meterQuery()}`); } catch (error) {
    if (error.message !== "login") $("summary-note").textContent = error.message;
    return;
  }
  if (data.time_zone) live.tz = data.time_zone;
  const periods = data.periods;
  const priced = Object.values(periods).some((period) => period.cost);
  document.querySelector("#summary thead .cost").hidden = !priced;
  const currency = priced ? Object.values(periods).find((p) => p.cost).cost.currency : "";
  if (priced) document.querySelector("#summary thead .cost").textContent =
    `${t("Cost")} ${currency}`;
  body.replaceChildren();
  for (const [key, label] of Object.entries(PERIODS())) {
    const period = periods[key];
    const row = body.insertRow();
    row.dataset.period = key;
    row.tabIndex = 0;
    const cells = [label, kwh(period.import_wh), kwh(period.export_wh), kwh(period.net_wh),
      priced ? (period.cost ? number(2, period.cost.total) : "–") : null,
      period.peak ? number(2, period.peak.w / 1000) : "–"];
    cells.forEach((text, i) => {
      if (text === null) return;
      const cell = i === 0 ? document.createElement("th") : row.insertCell();
      if (i === 0) row.append(cell);
      cell.textContent = text;
      if (i === 3) {  // the net: left out on a phone (import and export say it)
        cell.className = period.net_wh === null ? "net" : `net ${period.net_wh > 0 ? "import"
          : "export"}`;
      }
    });
    const show = () => { $("summary-note").textContent = periodDetails(label, period); };
    row.addEventListener("click", show);
    row.addEventListener("keydown", (event) => { if (event.key === "Enter") show(); });
  }
  $("summary-note").textContent = t("Tap a row for its details.");
}

function periodDetails(label, period) {
  const parts = [label];
  if (period.peak) {
    parts.push(tf("highest quarter hour {kw} kW at {time}", {
      kw: number(2, period.peak.w / 1000), time: dayAndClock(new Date(period.peak.at)) }));
  }
  if (period.self_supplied_share !== null) {
    parts.push(tf("self-supplied in {share} of the quarter hours (no import on balance)", {
      share: `${whole(period.self_supplied_share * 100)} %` }));
  }
  if (period.cost) {
    const c = period.cost;
    parts.push(tf("energy {energy}, fees {fees}, feed-in −{feed_in}, total {total} {currency}", {
      energy: number(2, c.energy), fees: number(2, c.fees), feed_in: number(2, c.feed_in),
      total: number(2, c.total), currency: c.currency }));
  }
  if (period.estimated_wh) {
    parts.push(tf("{kwh} kWh while the service was down, spread evenly", {
      kwh: kwh(period.estimated_wh) }));
  }
  return parts.join(" · ");
}

// ---- charts -----------------------------------------------------------------------------

// Drawn in CSS pixels of the chart's own size, so text stays text-sized on a phone.
const SIZE = { width: 800, height: 240, left: 64, right: 8, top: 14, bottom: 24 };

function node(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (parent) parent.append(element);
  return element;
}

function frame(svg) {
  svg.replaceChildren();
  SIZE.width = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 800);
  svg.setAttribute("viewBox", `0 0 ${SIZE.width} ${SIZE.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  return { x0: SIZE.left, x1: SIZE.width - SIZE.right, y0: SIZE.top,
    y1: SIZE.height - SIZE.bottom };
}

function empty(svg, text) {
  frame(svg);
  node("text", { x: SIZE.width / 2, y: SIZE.height / 2, "text-anchor": "middle",
    class: "empty" }, svg).textContent = text;
  svg.dataset.points = "0";
}

function niceStep(span) {
  const raw = span / 5;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= raw) || power;
}

// Ticks with their unit on both sides of zero: import above, export below (shown as the
// amount, the side says the direction), with the direction written at the top and bottom.
function yAxis(svg, box, low, high, format) {
  const step = niceStep(high - low);
  for (let v = Math.ceil(low / step) * step; v <= high + 1e-9; v += step) {
    const y = box.y1 - (v - low) / (high - low) * (box.y1 - box.y0);
    node("line", { x1: box.x0, x2: box.x1, y1: y, y2: y, class: "axis" }, svg);
    node("text", { x: box.x0 - 6, y: y + 4, "text-anchor": "end" }, svg)
      .textContent = format(Math.abs(v) < step / 1000 ? 0 : Math.abs(v));
  }
  if (high > 0) {
    node("text", { x: box.x1 - 4, y: box.y0 + 11, "text-anchor": "end", class: "side import" },
      svg).textContent = "↑ " + t("import");
  }
  if (low < 0) {
    node("text", { x: box.x1 - 4, y: box.y1 - 5, "text-anchor": "end", class: "side export" },
      svg).textContent = "↓ " + t("export");
  }
}

function xLabels(svg, box, labels) {
  const room = Math.max(2, Math.floor((box.x1 - box.x0) / 80));
  const every = Math.max(1, Math.ceil(labels.length / room));
  labels.forEach((label, i) => {
    if (i % every) return;
    node("text", { x: label.x, y: box.y1 + 16, "text-anchor": "middle" }, svg)
      .textContent = label.text;
  });
}

// Net power as one line, the part above zero coloured as import, below as export; a
// pointer (or a tap) on the chart reads the value at that moment.
function powerChart(svg, points, from, to, labelOf) {
  if (points.length < 2) { empty(svg, t("not enough history yet")); return; }
  const box = frame(svg);
  let low = Math.min(0, ...points.map((p) => p.v));
  let high = Math.max(0, ...points.map((p) => p.v));
  if (high === low) high = low + 1;
  const pad = (high - low) * 0.05;
  low -= low < 0 ? pad : 0; high += pad;
  const x = (time) => box.x0 + (time - from) / (to - from) * (box.x1 - box.x0);
  const y = (v) => box.y1 - (v - low) / (high - low) * (box.y1 - box.y0);
  const kilo = Math.max(Math.abs(low), Math.abs(high)) >= 1000;
  yAxis(svg, box, low, high, (v) => kilo ? `${number(1, v / 1000)} kW` : `${whole(v)} W`);
  const line = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
    .join("");
  const zero = y(0).toFixed(1);
  for (const side of ["import", "export"]) {
    const clip = `clip-${svg.id}-${side}`;
    const defs = node("defs", {}, svg);
    const clipPath = node("clipPath", { id: clip }, defs);
    node("rect", side === "import"
      ? { x: box.x0, y: box.y0, width: box.x1 - box.x0, height: Math.max(0, zero - box.y0) }
      : { x: box.x0, y: zero, width: box.x1 - box.x0, height: Math.max(0, box.y1 - zero) },
    clipPath);
    const first = points[0], last = points[points.length - 1];
    node("path", { d: `${line}L${x(last.t).toFixed(1)},${zero}L${x(first.t).toFixed(1)},${zero}Z`,
      class: `area ${side}`, "clip-path": `url(#${clip})` }, svg);
    node("path", { d: line, class: `line ${side}`, "clip-path": `url(#${clip})` }, svg);
  }
  node("line", { x1: box.x0, x2: box.x1, y1: zero, y2: zero, class: "axis zero" }, svg);
  const ticks = [];
  for (let i = 0; i <= 6; i++) {
    const time = from + (to - from) * i / 6;
    ticks.push({ x: x(time), text: labelOf(new Date(time)) });
  }
  xLabels(svg, box, ticks);
  const cursor = node("line", { x1: 0, x2: 0, y1: box.y0, y2: box.y1, class: "cursor",
    visibility: "hidden" }, svg);
  const readout = $(`${svg.id.replace("-chart", "")}-readout`);
  svg.onpointermove = svg.onpointerdown = (event) => {
    const rect = svg.getBoundingClientRect();
    const px = (event.clientX - rect.left) / rect.width * SIZE.width;
    const time = from + (px - box.x0) / (box.x1 - box.x0) * (to - from);
    let nearest = points[0];
    for (const p of points) if (Math.abs(p.t - time) < Math.abs(nearest.t - time)) nearest = p;
    cursor.setAttribute("x1", x(nearest.t)); cursor.setAttribute("x2", x(nearest.t));
    cursor.setAttribute("visibility", "visible");
    const direction = nearest.v >= 0 ? t("import") : t("export");
    readout.textContent = tf("{time}: {power} {direction}", {
      time: dayAndClock(new Date(nearest.t)), power: watts(Math.abs(nearest.v)), direction });
  };
  svg.dataset.points = String(points.length);
}

// Import bars up, export bars down, one slot per interval; a tap or click on a slot shows
// its figures below the chart (phones have no hover).
function barChart(svg, bars, format, unit) {
  if (!bars.length) { empty(svg, t("no history for this range yet")); return; }
  const box = frame(svg);
  const high = Math.max(1e-9, ...bars.map((b) => b.import)) * 1.05;
  const low = -Math.max(0, ...bars.map((b) => b.export)) * 1.05;
  const y = (v) => box.y1 - (v - low) / (high - low) * (box.y1 - box.y0);
  yAxis(svg, box, low, high, (v) => `${format(v)} ${unit}`);
  const slot = (box.x1 - box.x0) / bars.length;
  const width = Math.max(1, slot * 0.8);
  const labels = [];
  const readout = $(`${svg.id.replace("-chart", "")}-readout`);
  bars.forEach((bar, i) => {
    const left = box.x0 + i * slot + (slot - width) / 2;
    const text = tf("{label}: import {import} {unit}, export {export} {unit}", {
      label: bar.title || bar.label, import: format(bar.import), export: format(bar.export),
      unit });
    const group = node("g", { class: "slot", tabindex: "0" }, svg);
    node("rect", { x: box.x0 + i * slot, y: box.y0, width: slot, height: box.y1 - box.y0,
      class: "hit" }, group);
    node("rect", { x: left, y: y(bar.import), width,
      height: Math.max(0, y(0) - y(bar.import)), class: "import" }, group);
    node("rect", { x: left, y: y(0), width,
      height: Math.max(0, y(-bar.export) - y(0)), class: "export" }, group);
    node("title", {}, group).textContent = text;
    const show = () => {
      for (const other of svg.querySelectorAll(".slot.chosen")) other.classList.remove("chosen");
      group.classList.add("chosen");
      readout.textContent = text;
    };
    group.addEventListener("click", show);
    group.addEventListener("keydown", (event) => { if (event.key === "Enter") show(); });
    labels.push({ x: left + width / 2, text: bar.label });
  });
  node("line", { x1: box.x0, x2: box.x1, y1: y(0), y2: y(0), class: "axis zero" }, svg);
  xLabels(svg, box, labels);
  svg.dataset.points = String(bars.length);
}

function value(interval, obis, field) {
  const entry = interval.values[obis];
  return entry && entry[field] !== undefined ? entry[field] : 0;
}

const RANGES = {
  hour: { from: "-1h", step: "1m", label: clock },
  day: { from: "-1d", step: "15m", label: clock },
  week: { from: "-7d", step: "1h", label: dayMonth },
};

async function loadPower(range) {
  const spec = RANGES[range];
  const svg = $("power-chart");
  $("power-readout").textContent = "";
  const obis = `${OBIS.powerImport},${OBIS.powerExport}`;
  try {
    const data = await api(
      `/api/v1/history?from=${spec.from}&step=${spec.step}&obis=${obis}${meterQuery()}`);
    const points = data.intervals.map((i) => ({
      t: Date.parse(i.start),
      v: value(i, OBIS.powerImport, "mean") - value(i, OBIS.powerExport, "mean"),
    }));
    powerChart(svg, points, Date.parse(data.from), Date.parse(data.to), spec.label);
  } catch (error) { if (error.message !== "login") empty(svg, error.message); }
}

async function loadEnergy(range) {
  const svg = $("energy-chart");
  $("energy-readout").textContent = "";
  const obis = `${OBIS.energyImport},${OBIS.energyExport}`;
  const query = {
    hours: `from=${$("profile-day").value || today()}&to=${
      nextDay($("profile-day").value || today())}&step=1h`,
    days: "from=-30d&step=1d",
    months: "from=-365d&step=1mo",
  }[range];
  try {
    const data = await api(`/api/v1/history?${query}&obis=${obis}${meterQuery()}`);
    const bars = data.intervals.map((i) => {
      const start = new Date(i.start);
      const label = range === "hours" ? clock(start) : range === "months" ? monthYear(start)
        : dayMonth(start);
      return { label, title: range === "hours" ? `${dayMonth(start)} ${label}` : label,
        import: value(i, OBIS.energyImport, "delta") / 1000,
        export: value(i, OBIS.energyExport, "delta") / 1000 };
    });
    const digits = (v) => (v !== 0 && Math.abs(v) < 10 ? (range === "hours" ? 2 : 1) : 0);
    barChart(svg, bars, (v) => number(digits(v), Math.abs(v)), "kWh");
  } catch (error) { if (error.message !== "login") empty(svg, error.message); }
}

function today() {  // YYYY-MM-DD in the meter's time zone
  return new Intl.DateTimeFormat("en-CA", { timeZone: live.tz, year: "numeric",
    month: "2-digit", day: "2-digit" }).format(new Date());
}

function nextDay(day) {
  const date = new Date(day + "T12:00:00");
  date.setDate(date.getDate() + 1);
  return isoDay(date);
}

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

async function loadProfile() {
  const day = $("profile-day").value || today();
  const svg = $("profile-chart");
  $("profile-readout").textContent = "";
  const obis = [OBIS.energyImport, OBIS.energyExport, OBIS.powerImport, OBIS.powerExport]
    .join(",");
  const body = $("profile-table").tBodies[0];
  try {
    const data = await api(
      `/api/v1/history?from=${day}&to=${nextDay(day)}&step=15m&obis=${obis}${meterQuery()}`);
    const rows = data.intervals.map((i) => ({
      label: i.start.slice(11, 16),
      import: value(i, OBIS.energyImport, "delta"), export: value(i, OBIS.energyExport, "delta"),
      meanImport: value(i, OBIS.powerImport, "mean"), meanExport: value(i, OBIS.powerExport, "mean"),
    }));
    barChart(svg, rows, (v) => whole(Math.abs(v)), "Wh");
    body.replaceChildren();
    let totalImport = 0, totalExport = 0;
    for (const row of rows) {
      totalImport += row.import; totalExport += row.export;
      const tr = body.insertRow();
      for (const text of [row.label, number(1, row.import), number(1, row.export),
        whole(row.meanImport), whole(row.meanExport)]) {
        tr.insertCell().textContent = text;
      }
    }
    $("profile-total").textContent = rows.length ? tf(
      "day: import {import} kWh, export {export} kWh", {
        import: number(2, totalImport / 1000), export: number(2, totalExport / 1000) }) : "";
  } catch (error) { if (error.message !== "login") empty(svg, error.message); }
}

// ---- wiring -----------------------------------------------------------------------------

function tabs(name, load) {
  const group = document.querySelector(`.tabs[data-for="${name}"]`);
  const selected = () => group.querySelector('[aria-selected="true"]').dataset.range;
  group.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    for (const other of group.querySelectorAll("button")) {
      other.setAttribute("aria-selected", String(other === button));
    }
    load(button.dataset.range);
  });
  return () => load(selected());
}

function theme() {
  const saved = localStorage.getItem("theme");
  if (saved) document.documentElement.dataset.theme = saved;
  $("theme").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("theme", next);
  });
}

async function start() {
  theme();
  await useLanguage(chosenLanguage());
  let meters = [];
  try {
    const status = await api("/api/v1/status");
    live.tz = status.time_zone || undefined;
    live.peakWarning = status.peak_warning_w || null;
    if ((status.meters || []).length > 1) meters = (await api("/api/v1/meters")).meters;
  } catch (error) {
    // the live feed brings the status too
  }
  $("profile-day").value = today();
  const power = tabs("power", loadPower);
  const energy = tabs("energy", loadEnergy);
  $("profile-day").addEventListener("change", () => { loadProfile(); energy(); });
  const refresh = () => { power(); energy(); loadProfile(); loadSummary(); };
  languageButton(() => {  // everything drawn in words, again in the other language
    refresh();
    if (live.status) showStatus(live.status);
    if (live.shown) showReading(live.shown);
    showAge();
  });
  setMeters(meters, refresh);
  if (live.meters.length < 2) refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, 60000);
  setInterval(showAge, 1000);
  let resized = null;
  addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(refresh, 300); });
  connect();
}

document.addEventListener("DOMContentLoaded", start);
