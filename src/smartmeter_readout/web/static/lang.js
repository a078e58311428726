// What the pages share: the language (the gettext catalogues of the package, served as
// /static/locale/*.json), numbers in its format, $ for getElementById, and api() for the
// JSON of the API (a missing login sends the page to the login form).
"use strict";

const LANGUAGES = ["en", "de"];
const $ = (id) => document.getElementById(id);

// ---- language ---------------------------------------------------------------------------

const i18n = { lang: "en", catalog: {}, locale: "en-GB" };
const t = (msgid) => i18n.catalog[msgid] || msgid;
// a message with {name} placeholders
const tf = (msgid, args) => t(msgid).replace(/\{(\w+)\}/g, (_, key) => args[key]);

function chosenLanguage() {
  const saved = localStorage.getItem("lang");
  if (LANGUAGES.includes(saved)) return saved;
  const wanted = (navigator.languages || [navigator.language || "en"])
    .map((tag) => tag.slice(0, 2).toLowerCase());
  return wanted.find((tag) => LANGUAGES.includes(tag)) || "en";
}

async function useLanguage(lang) {
  const response = await fetch(`/static/locale/${lang}.json`, { credentials: "same-origin" });
  i18n.catalog = response.ok ? await response.json() : {};
  i18n.lang = lang;
  i18n.locale = lang === "de" ? "de-AT" : "en-GB";
  document.documentElement.lang = lang;
  for (const element of document.querySelectorAll("[data-t]")) {
    element.textContent = t(element.dataset.t);
  }
  for (const element of document.querySelectorAll("[data-t-label]")) {
    element.setAttribute("aria-label", t(element.dataset.tLabel));
  }
  for (const element of document.querySelectorAll("[data-t-title]")) {
    element.setAttribute("title", t(element.dataset.tTitle));
  }
  $("lang").textContent = lang === "de" ? "EN" : "DE";
}

const number = (digits, value) => new Intl.NumberFormat(i18n.locale, {
  minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
const whole = (value) => number(0, value);

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin",
    headers: { Accept: "application/json" } });
  if (response.status === 401) { location.href = "/login?next=/"; throw new Error("login"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// The DE/EN button: the other language, remembered, then the page's own redraw.
function languageButton(redraw) {
  $("lang").addEventListener("click", async () => {
    const next = i18n.lang === "de" ? "en" : "de";
    localStorage.setItem("lang", next);
    await useLanguage(next);
    redraw();
  });
}
