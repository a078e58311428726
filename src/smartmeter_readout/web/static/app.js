// The page: live values from /api/v1/events, charts from /api/v1/history, drawn as plain SVG.
"use strict";

const OBIS = {
  powerImport: "1.0.1.7.0.255", powerExport: "1.0.2.7.0.255",
  energyImport: "1.0.1.8.0.255", energyExport: "1.0.2.8.0.255",
};
const SVG = "http://www.w3.org/2000/svg";
const numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimals = (digits) => new Intl.NumberFormat(undefined, {
  minimumFractionDigits: digits, maximumFractionDigits: digits });
const $ = (id) => document.getElementById(id);

const live = { receivedAt: null, ageAtReceipt: 0, connected: false, sourceState: "" };

function watts(value) {
  if (value === null || value === undefined) return "–";
  return Math.abs(value) >= 10000 ? `${decimals(2).format(value / 1000)} kW`
    : `${numbers.format(value)} W`;
}

function valueByName(reading, name) {
  for (const value of Object.values(reading.values)) if (value.name === name) return value;
  return null;
}

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin",
    headers: { Accept: "application/json" } });
  if (response.status === 401) { location.href = "/login?next=/"; throw new Error("login"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// ---- live -------------------------------------------------------------------------------

function showReading(reading) {
  live.receivedAt = performance.now();
  live.ageAtReceipt = 0;
  const values = reading.values;
  const imp = values[OBIS.powerImport] ? values[OBIS.powerImport].value : null;
  const exp = values[OBIS.powerExport] ? values[OBIS.powerExport].value : null;
  const net = (imp ?? 0) - (exp ?? 0);
  const big = $("net");
  big.textContent = imp === null && exp === null ? "–" : watts(net);
  big.className = "big " + (net > 0 ? "import" : net < 0 ? "export" : "");
  $("p-import").textContent = watts(imp);
  $("p-export").textContent = watts(exp);
  for (const name of ["voltage_l1", "voltage_l2", "voltage_l3",
    "current_l1", "current_l2", "current_l3"]) {
    const value = valueByName(reading, name);
    $(name).textContent = value ? `${decimals(name.startsWith("v") ? 1 : 2)
      .format(value.value)} ${value.unit}` : "–";
  }
  const counters = $("counters");
  counters.replaceChildren();
  for (const value of Object.values(values)) {
    if (!["Wh", "varh", "VAh"].includes(value.unit)) continue;
    addPair(counters, value.name.replaceAll("_", " "),
      `${decimals(3).format(value.value / 1000)} k${value.unit}`);
  }
  const meter = reading.meter || {};
  $("meter-id").textContent = meter.id || meter.system_title || "";
  showAge();
}

function showAge() {
  const age = live.receivedAt === null ? null
    : live.ageAtReceipt + (performance.now() - live.receivedAt) / 1000;
  $("age").textContent = age === null ? "no reading yet" : `last reading ${ageText(age)} ago`;
  const dot = $("conn");
  let state = "offline", text = "not connected to the service";
  if (live.connected) {
    const fresh = age !== null && age < 30;
    state = fresh ? "live" : "stale";
    text = fresh ? "live" : `connected · meter ${live.sourceState || "silent"}`;
  } else if (live.receivedAt !== null) {
    state = "reconnecting"; text = "reconnecting…";
  }
  dot.dataset.state = state;
  $("conn-text").textContent = text;
}

function ageText(seconds) {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${decimals(1).format(seconds / 3600)} h`;
}

function addPair(list, label, text, cls) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = text;
  if (cls) dd.className = cls;
  list.append(dt, dd);
}

function showStatus(status) {
  live.sourceState = status.source.state;
  if (status.last_reading && live.receivedAt === null) {
    live.ageAtReceipt = status.last_reading.age_seconds;
  }
  $("version").textContent = status.version;
  const list = $("status");
  list.replaceChildren();
  const source = status.source;
  const line = [source.baud ? `${source.baud} 8${source.parity}1` : "",
    source.framing || ""].filter(Boolean).join(", ");
  addPair(list, "Source", source.name);
  addPair(list, "State", source.message || source.state,
    ["reading", "receiving", "found"].includes(source.state) ? "ok" : "");
  addPair(list, "Line", line || "not detected yet");
  addPair(list, "Operator", source.operator);
  if (status.meter) {
    const m = status.meter;
    addPair(list, "Meter", [m.manufacturer, m.id || m.system_title].filter(Boolean).join(" "));
  }
  const pushes = status.pushes;
  addPair(list, "Pushes", `${numbers.format(pushes.ok)} ok, ${numbers.format(pushes.bad)} bad`,
    pushes.bad ? "bad" : "ok");
  addPair(list, "Decryption failures", numbers.format(pushes.decryption_failed),
    pushes.decryption_failed ? "bad" : "");
  addPair(list, "Tag failures", numbers.format(pushes.tag_mismatch),
    pushes.tag_mismatch ? "bad" : "");
  addPair(list, "Bad frames", numbers.format(pushes.frames_bad));
  addPair(list, "Implausible values", numbers.format(pushes.implausible_values || 0),
    pushes.implausible_values ? "bad" : "");
  addPair(list, "Reconnects", numbers.format(source.reconnects));
  addPair(list, "Last error", status.last_error ? status.last_error.message : "none",
    status.last_error ? "bad" : "");
  const body = $("outputs").tBodies[0];
  body.replaceChildren();
  for (const output of status.outputs) {
    const row = body.insertRow();
    const cells = [output.name, output.up ? "up" : `down: ${output.error || "retrying"}`,
      output.backlog, output.delivered, output.failures, output.dropped];
    cells.forEach((text, i) => {
      const cell = row.insertCell();
      cell.textContent = typeof text === "number" ? numbers.format(text) : text;
      if (i === 1) cell.className = output.up ? "ok" : "bad";
    });
  }
  showAge();
}

function connect() {
  const events = new EventSource("/api/v1/events");
  events.addEventListener("open", () => { live.connected = true; showAge(); });
  events.addEventListener("error", () => { live.connected = false; showAge(); });
  events.addEventListener("reading", (event) => showReading(JSON.parse(event.data)));
  events.addEventListener("status", (event) => showStatus(JSON.parse(event.data)));
}

// ---- charts -----------------------------------------------------------------------------

// Drawn in CSS pixels of the chart's own size, so text stays text-sized on a phone.
const SIZE = { width: 800, height: 240, left: 56, right: 8, top: 10, bottom: 24 };

function node(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (parent) parent.append(element);
  return element;
}

function frame(svg) {
  svg.replaceChildren();
  SIZE.width = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 800);
  SIZE.left = 56;
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

function yAxis(svg, box, low, high, format) {
  const step = niceStep(high - low);
  for (let v = Math.ceil(low / step) * step; v <= high + 1e-9; v += step) {
    const y = box.y1 - (v - low) / (high - low) * (box.y1 - box.y0);
    node("line", { x1: box.x0, x2: box.x1, y1: y, y2: y, class: "axis" }, svg);
    node("text", { x: box.x0 - 6, y: y + 4, "text-anchor": "end" }, svg).textContent = format(v);
  }
}

function xLabels(svg, box, labels) {
  const room = Math.max(2, Math.floor((box.x1 - box.x0) / 70));
  const every = Math.max(1, Math.ceil(labels.length / room));
  labels.forEach((label, i) => {
    if (i % every) return;
    node("text", { x: label.x, y: box.y1 + 16, "text-anchor": "middle" }, svg)
      .textContent = label.text;
  });
}

// Net power as one line, the part above zero coloured as import, below as export.
function powerChart(svg, points, from, to, labelOf) {
  if (points.length < 2) { empty(svg, "not enough history yet"); return; }
  const box = frame(svg);
  let low = Math.min(0, ...points.map((p) => p.v));
  let high = Math.max(0, ...points.map((p) => p.v));
  if (high === low) high = low + 1;
  const pad = (high - low) * 0.05;
  low -= low < 0 ? pad : 0; high += pad;
  const x = (t) => box.x0 + (t - from) / (to - from) * (box.x1 - box.x0);
  const y = (v) => box.y1 - (v - low) / (high - low) * (box.y1 - box.y0);
  const kilo = Math.max(Math.abs(low), Math.abs(high)) >= 1000;
  yAxis(svg, box, low, high, (v) => kilo
    ? `${decimals(1).format(v / 1000)} kW` : `${numbers.format(v)} W`);
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
  node("line", { x1: box.x0, x2: box.x1, y1: zero, y2: zero, class: "axis" }, svg);
  const ticks = [];
  for (let i = 0; i <= 6; i++) {
    const t = from + (to - from) * i / 6;
    ticks.push({ x: x(t), text: labelOf(new Date(t)) });
  }
  xLabels(svg, box, ticks);
  svg.dataset.points = String(points.length);
}

// Import bars up, export bars down, one slot per interval.
function barChart(svg, bars, unitLabel) {
  if (!bars.length) { empty(svg, "no history for this range yet"); return; }
  const box = frame(svg);
  const high = Math.max(1e-9, ...bars.map((b) => b.import)) * 1.05;
  const low = -Math.max(0, ...bars.map((b) => b.export)) * 1.05;
  const y = (v) => box.y1 - (v - low) / (high - low) * (box.y1 - box.y0);
  yAxis(svg, box, low, high, unitLabel);
  const slot = (box.x1 - box.x0) / bars.length;
  const width = Math.max(1, slot * 0.8);
  const labels = [];
  bars.forEach((bar, i) => {
    const left = box.x0 + i * slot + (slot - width) / 2;
    const title = `${bar.label}: import ${decimals(2).format(bar.import)}, export ${
      decimals(2).format(bar.export)}`;
    const up = node("rect", { x: left, y: y(bar.import), width,
      height: Math.max(0, y(0) - y(bar.import)), class: "import" }, svg);
    node("title", {}, up).textContent = title;
    const down = node("rect", { x: left, y: y(0), width,
      height: Math.max(0, y(-bar.export) - y(0)), class: "export" }, svg);
    node("title", {}, down).textContent = title;
    labels.push({ x: left + width / 2, text: bar.label });
  });
  node("line", { x1: box.x0, x2: box.x1, y1: y(0), y2: y(0), class: "axis" }, svg);
  xLabels(svg, box, labels);
  svg.dataset.points = String(bars.length);
}

function value(interval, obis, field) {
  const entry = interval.values[obis];
  return entry && entry[field] !== undefined ? entry[field] : 0;
}

const timeOnly = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const dayOnly = (d) => d.toLocaleDateString([], { day: "numeric", month: "short" });
const RANGES = {
  hour: { from: "-1h", step: "1m", seconds: 3600, label: timeOnly },
  day: { from: "-1d", step: "15m", seconds: 86400, label: timeOnly },
  week: { from: "-7d", step: "1h", seconds: 604800, label: dayOnly },
};

async function loadPower(range) {
  const spec = RANGES[range];
  const svg = $("power-chart");
  const obis = `${OBIS.powerImport},${OBIS.powerExport}`;
  try {
    const data = await api(`/api/v1/history?from=${spec.from}&step=${spec.step}&obis=${obis}`);
    const points = data.intervals.map((i) => ({
      t: Date.parse(i.start),
      v: value(i, OBIS.powerImport, "mean") - value(i, OBIS.powerExport, "mean"),
    }));
    powerChart(svg, points, Date.parse(data.from), Date.parse(data.to), spec.label);
  } catch (error) { if (error.message !== "login") empty(svg, error.message); }
}

async function loadEnergy(range) {
  const months = range === "months";
  const svg = $("energy-chart");
  const obis = `${OBIS.energyImport},${OBIS.energyExport}`;
  try {
    const data = await api(`/api/v1/history?from=${months ? "-365d" : "-30d"}&step=${
      months ? "1mo" : "1d"}&obis=${obis}`);
    const bars = data.intervals.map((i) => {
      const start = new Date(i.start.slice(0, 10) + "T12:00:00");
      return { label: months ? start.toLocaleDateString([], { month: "short", year: "2-digit" })
        : dayOnly(start),
        import: value(i, OBIS.energyImport, "delta") / 1000,
        export: value(i, OBIS.energyExport, "delta") / 1000 };
    });
    barChart(svg, bars, (v) => decimals(v !== 0 && Math.abs(v) < 10 ? 1 : 0).format(Math.abs(v)));
  } catch (error) { if (error.message !== "login") empty(svg, error.message); }
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
  const day = $("profile-day").value || isoDay(new Date());
  const svg = $("profile-chart");
  const obis = [OBIS.energyImport, OBIS.energyExport, OBIS.powerImport, OBIS.powerExport]
    .join(",");
  const body = $("profile-table").tBodies[0];
  try {
    const data = await api(`/api/v1/history?from=${day}&to=${nextDay(day)}&step=15m&obis=${obis}`);
    const rows = data.intervals.map((i) => ({
      label: i.start.slice(11, 16),
      import: value(i, OBIS.energyImport, "delta"), export: value(i, OBIS.energyExport, "delta"),
      meanImport: value(i, OBIS.powerImport, "mean"), meanExport: value(i, OBIS.powerExport, "mean"),
    }));
    barChart(svg, rows, (v) => numbers.format(Math.abs(v)));
    body.replaceChildren();
    let totalImport = 0, totalExport = 0;
    for (const row of rows) {
      totalImport += row.import; totalExport += row.export;
      const tr = body.insertRow();
      for (const text of [row.label, decimals(1).format(row.import), decimals(1).format(row.export),
        numbers.format(row.meanImport), numbers.format(row.meanExport)]) {
        tr.insertCell().textContent = text;
      }
    }
    $("profile-total").textContent = rows.length ? `day: import ${decimals(2).format(
      totalImport / 1000)} kWh, export ${decimals(2).format(totalExport / 1000)} kWh` : "";
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

function start() {
  theme();
  $("profile-day").value = isoDay(new Date());
  $("profile-day").addEventListener("change", loadProfile);
  const power = tabs("power", loadPower);
  const energy = tabs("energy", loadEnergy);
  const refresh = () => { power(); energy(); loadProfile(); };
  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, 60000);
  setInterval(showAge, 1000);
  let resized = null;
  addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(refresh, 300); });
  connect();
}

document.addEventListener("DOMContentLoaded", start);
