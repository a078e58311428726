// The fleet's page (collect with [web] store = "postgres"): every meter with the age of its
// last reading, a group's quarter hours with its self-supplied share, and CSV per member and
// month. lang.js, loaded before, brings $, t, tf, useLanguage, languageButton, number, whole and api.
"use strict";

const POWER = { import: "1.0.1.7.0.255", export: "1.0.2.7.0.255" };
const fleet = { tz: undefined };

function shown(error) {
  if (error.message === "login") return;
  $("error").hidden = false;
  $("error").textContent = error.message;
}

function age(seconds) {
  if (seconds < 90) return `${whole(Math.max(0, seconds))} s`;
  if (seconds < 5400) return `${whole(seconds / 60)} min`;
  if (seconds < 172800) return `${number(1, seconds / 3600)} h`;
  return `${whole(seconds / 86400)} d`;
}

const watts = (value) => (typeof value === "number" ? `${whole(value)} W` : "–");
const csvLink = (query) => `/api/v1/fleet/csv?${query}&month=${$("month").value}`;

async function loadMeters() {
  let data;
  try { data = await api("/api/v1/fleet/meters"); } catch (error) { shown(error); return; }
  fleet.tz = data.time_zone;
  $("count").textContent = tf("{count} meters", { count: whole(data.meters.length) });
  const body = $("meters").tBodies[0];
  body.replaceChildren();
  for (const meter of data.meters) {
    const row = body.insertRow();
    const cells = [meter.meter, meter.groups.join(", "), tf("{age} ago", { age: age(meter.age_seconds) }),
      watts(meter.values[POWER.import]), watts(meter.values[POWER.export])];
    for (const text of cells) row.insertCell().textContent = text;
    if (meter.age_seconds > 300) row.cells[2].className = "bad";
    const link = document.createElement("a");
    link.href = csvLink(`meter=${encodeURIComponent(meter.meter)}`);
    link.textContent = "CSV";
    row.insertCell().append(link);
  }
}

async function loadGroups() {
  let data;
  try { data = await api("/api/v1/fleet/groups"); } catch (error) { shown(error); return; }
  const select = $("group");
  select.replaceChildren();
  for (const group of data.groups) {
    const option = document.createElement("option");
    option.value = group.name;
    option.textContent = tf("{name} ({count} members)", { name: group.name,
      count: whole(group.members) });
    select.append(option);
  }
  await loadGroup();
}

function nextDay(day) {
  const date = new Date(`${day}T12:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}

async function loadGroup() {
  const name = $("group").value;
  const body = $("quarters").tBodies[0];
  body.replaceChildren();
  if (!name) { $("group-total").textContent = t("No groups: add [[groups]] to the config."); return; }
  $("group-csv").href = csvLink(`group=${encodeURIComponent(name)}`);
  const day = $("day").value;
  let data;
  try {
    data = await api(`/api/v1/fleet/groups/${encodeURIComponent(name)}?from=${day}&to=${nextDay(day)}`);
  } catch (error) { shown(error); return; }
  const share = (value) => (value === null ? "–" : `${number(1, value * 100)} %`);
  $("group-total").textContent = tf(
    "import {import} kWh, export {export} kWh, self-supplied {share}", {
      import: number(2, data.import_wh / 1000), export: number(2, data.export_wh / 1000),
      share: share(data.self_supplied_share) });
  for (const quarter of data.quarters) {
    const row = body.insertRow();
    for (const text of [quarter.start.slice(11, 16), number(3, quarter.import_wh / 1000),
      number(3, quarter.export_wh / 1000), share(quarter.self_supplied_share),
      whole(quarter.members_reporting)]) row.insertCell().textContent = text;
  }
}

async function start() {
  await useLanguage(chosenLanguage());
  const now = new Date();
  const local = (options) => new Intl.DateTimeFormat("en-CA", { timeZone: fleet.tz, ...options })
    .format(now);
  await loadMeters();
  $("day").value = local({ year: "numeric", month: "2-digit", day: "2-digit" });
  $("month").value = $("day").value.slice(0, 7);
  await loadGroups();
  $("group").addEventListener("change", loadGroup);
  $("day").addEventListener("change", loadGroup);
  $("month").addEventListener("change", () => { loadMeters(); loadGroup(); });
  languageButton(() => { loadMeters(); loadGroup(); });
  setInterval(() => { if (!document.hidden) loadMeters(); }, 10000);
}

document.addEventListener("DOMContentLoaded", start);
