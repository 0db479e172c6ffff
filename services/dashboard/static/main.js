// The dashboard page: read key, filters, report cards, totals, and the explain view.

import { getJson, readKey, records, storeKey } from "./api.js";
import { ReportCard } from "./cards.js";
import { ExplainView } from "./explain.js";
import * as fmt from "./format.js";
import { MODELS, RANGE_PARAMS, REPORTS } from "./reports.js";
import { h, installTooltip } from "./svg.js";

const PARTNER_TYPES = [
  ["", "All partner types"],
  ["affiliate", "Affiliate"],
  ["influencer", "Influencer"],
  ["content", "Content"],
  ["b2b", "B2B"],
  ["mobile_network", "Mobile network"],
  ["other", "Other"],
];
const KPIS = [
  ["conversions", "Conversions", "integer"],
  ["credited_revenue", "Credited revenue", "money"],
  ["revenue", "Revenue", "money"],
  ["payouts", "Payouts", "money"],
  ["installs", "Installs", "integer"],
  ["clicks", "Clicks", "integer"],
];

const form = document.getElementById("filters");
const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("read-key");
const notice = document.getElementById("notice");
const kpiList = document.getElementById("kpis");
const grid = document.getElementById("cards");
let key = readKey();
const controllers = new Map();

function daysAgo(days) {
  const date = new Date();
  date.setDate(date.getDate() - days);
  return fmt.isoDate(date);
}

function setRange(days) {
  form.elements.from.value = daysAgo(days - 1);
  form.elements.to.value = daysAgo(0);
}

/** The filters as typed: `from` and `to` are both inclusive calendar days. */
function filters() {
  return Object.fromEntries(RANGE_PARAMS.map((name) => [name, form.elements[name].value.trim()]));
}

/** The filters as the API takes them: `to` is exclusive, so the day after the last one shown. */
function query() {
  const q = filters();
  return { ...q, to: q.to ? fmt.nextDay(q.to) : q.to };
}

function say(text, kind = "info") {
  notice.replaceChildren(...(text ? [h("p", { className: `notice ${kind}`, text })] : []));
}

function syncUrl() {
  const url = new URL(window.location.href);
  for (const name of RANGE_PARAMS) {
    const value = form.elements[name].value.trim();
    if (value) url.searchParams.set(name, value);
    else url.searchParams.delete(name);
  }
  window.history.replaceState(null, "", url);
}

function fillSelect(select, options) {
  select.replaceChildren(...options.map(([value, label]) => h("option", { value, text: label })));
}

function renderKpis(body, currency) {
  const rows = body ? records(body) : [];
  kpiList.replaceChildren(
    ...KPIS.map(([column, label, kind]) => {
      const total = rows.reduce((sum, r) => sum + (Number(r[column]) || 0), 0);
      const text = !body ? "–" : kind === "money" ? fmt.money(total, currency) : fmt.integer(total);
      return h("li", { className: "kpi", "data-kpi": column }, [
        h("span", { className: "kpi-label", text: label }),
        h("span", { className: "kpi-value", text }),
      ]);
    }),
  );
}

async function loadCard(card) {
  controllers.get(card)?.abort();
  const q = query();
  const range = filters();
  const params = card.setQuery(q, key, range);
  if (!key) {
    card.showMessage("idle", "Enter your read key to see this report.", "The key is kept in this browser only.");
    if (card.def.name === "performance") renderKpis(null, null);
    return;
  }
  const controller = new AbortController();
  controllers.set(card, controller);
  card.showLoading();
  try {
    const body = await getJson(card.def.path, params, key, controller.signal);
    const currency = typeof body.currency === "string" ? body.currency : null;
    card.show(body, { range, model: q.model, currency });
    if (card.def.name === "performance") renderKpis(body, currency);
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error.unauthorized) {
      say("The read key was refused. Check it and enter it again.", "error");
      card.showMessage("error", "The read key was refused.", error.message);
    } else {
      card.showMessage("error", "Could not load this report.", error.message);
    }
    if (card.def.name === "performance") renderKpis(null, null);
  } finally {
    if (controllers.get(card) === controller) controllers.delete(card);
  }
}

const cards = REPORTS.map((def) => new ReportCard(def, (card) => loadCard(card)));
grid.replaceChildren(...cards.map((card) => card.el));

function loadAll() {
  const q = filters();
  if (q.from && q.to && q.from > q.to) {
    say("The start date is after the end date.", "error");
    return;
  }
  syncUrl();
  say(key ? "" : "Enter a read key (top right) to load the reports.", key ? "info" : "hint");
  for (const card of cards) loadCard(card);
}

function start() {
  fillSelect(form.elements.model, MODELS);
  fillSelect(form.elements.partner_type, PARTNER_TYPES);
  setRange(30);
  const initial = new URL(window.location.href).searchParams;
  for (const name of RANGE_PARAMS) {
    if (initial.get(name)) form.elements[name].value = initial.get(name);
  }
  keyInput.value = key;
  renderKpis(null, null);
  installTooltip();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadAll();
  });
  form.elements.model.addEventListener("change", loadAll);
  form.elements.partner_type.addEventListener("change", loadAll);
  for (const button of form.querySelectorAll("[data-days]")) {
    button.addEventListener("click", () => {
      setRange(Number(button.dataset.days));
      loadAll();
    });
  }
  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    key = keyInput.value.trim();
    storeKey(key);
    loadAll();
  });
  document.getElementById("forget-key").addEventListener("click", () => {
    key = "";
    keyInput.value = "";
    storeKey("");
    loadAll();
  });

  const explain = new ExplainView(document.getElementById("explain"), () => ({ key, model: query().model }));
  let pending = 0;
  const observer = new ResizeObserver(() => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => cards.forEach((card) => card.resized()));
  });
  cards.forEach((card) => observer.observe(card.chart));

  loadAll();
  const conversion = initial.get("conversion");
  if (conversion) explain.load(conversion);
}

start();
