// What each report card shows: its API path, its own controls, column formats, and its chart.

import { records } from "./api.js";
import { columns, groupedColumns, stackedBars } from "./charts/bars.js";
import { dotPlot } from "./charts/dotplot.js";
import { heatMap } from "./charts/heatmap.js";
import { timeSeries } from "./charts/timeseries.js";
import * as fmt from "./format.js";
import { colorAt, h, ROLE_COLORS, sequential } from "./svg.js";

// The models the API credits with (the `model` parameter), and the labels of every model column
// the model comparison may hold (Markov and Shapley are computed by the report, not stored).
export const MODELS = [
  ["last_touch", "Last touch"],
  ["first_touch", "First touch"],
  ["linear", "Linear"],
  ["time_decay", "Time decay"],
  ["position_based", "Position based"],
  ["role_weights", "Role weights"],
];
const MODEL_COLUMNS = [...MODELS, ["markov", "Markov chain"], ["shapley", "Shapley value"]];
const MODEL_LABELS = Object.fromEntries(MODEL_COLUMNS);
const ROLES = ["introducer", "influencer", "closer"];
const MAX_SERIES = 7;

const PERFORMANCE_METRICS = [
  ["credited_revenue", "Credited revenue", "money"],
  ["revenue", "Revenue", "money"],
  ["payouts", "Payouts", "money"],
  ["conversions", "Conversions", "integer"],
  ["installs", "Installs", "integer"],
  ["clicks", "Clicks", "integer"],
  ["impressions", "Impressions", "integer"],
];

function valueAxis(kind, currency) {
  return kind === "money" ? (v) => fmt.moneyShort(v, currency) : fmt.compact;
}

function sum(values) {
  return values.reduce((total, v) => total + (Number(v) || 0), 0);
}

function titleCase(text) {
  const value = String(text ?? "").replace(/_/g, " ");
  return value.charAt(0).toUpperCase() + value.slice(1);
}

/** Every period of the range at the granularity ("YYYY-MM-DD" starts), so days without data
 * show as zero instead of being skipped; the periods found if they do not fit that grid. */
export function periodGrid(found, from, to, granularity) {
  const parse = (text) => new Date(`${String(text).slice(0, 10)}T00:00:00Z`);
  const iso = (date) => date.toISOString().slice(0, 10);
  const start = parse(from);
  const end = parse(to);
  const sorted = [...new Set(found.map(String))].sort();
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start) return sorted;
  const grid = [];
  if (granularity === "month") {
    const cursor = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1));
    while (cursor <= end && grid.length < 400) {
      grid.push(iso(cursor));
      cursor.setUTCMonth(cursor.getUTCMonth() + 1);
    }
  } else {
    const stepDays = granularity === "week" ? 7 : 1;
    const step = stepDays * 86400000;
    // Weeks start where the API's weeks start: step from a week found in the data.
    let first = start.getTime();
    if (stepDays === 7) {
      if (!sorted.length) return sorted;
      const anchor = parse(sorted[0]).getTime();
      first = anchor - Math.floor((anchor - start.getTime()) / step) * step;
      if (first > start.getTime()) first -= step;
    }
    for (let ms = first; ms <= end.getTime() && grid.length < 1200; ms += step) grid.push(iso(new Date(ms)));
  }
  const known = new Set(grid);
  return sorted.every((p) => known.has(p.slice(0, 10)) && p.length === 10) ? grid : sorted;
}

/** A key as a label: the empty key (no partner, no campaign) as "(none)". */
function keyLabel(value) {
  return value === null || value === undefined || value === "" ? "(none)" : String(value);
}

function drawPerformance(el, body, ctx) {
  const [metric, metricLabel, kind] = PERFORMANCE_METRICS.find(([m]) => m === ctx.view.metric) || PERFORMANCE_METRICS[0];
  const rows = records(body).map((r) => ({ ...r, key: keyLabel(r.key), period: String(r.period) }));
  const granularity = ctx.params.granularity;
  const periods = periodGrid(rows.map((r) => r.period), ctx.range.from, ctx.range.to, granularity);
  const totals = new Map();
  for (const row of rows) totals.set(row.key, (totals.get(row.key) || 0) + (Number(row[metric]) || 0));
  const ranked = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const shown = ranked.length > MAX_SERIES ? ranked.slice(0, MAX_SERIES - 1) : ranked;
  const series = shown.map((key, i) => ({ label: key, color: colorAt(i), values: new Map() }));
  if (ranked.length > shown.length) series.push({ label: "Other", color: "#9aa5b1", values: new Map() });
  const byKey = new Map(series.map((line) => [line.label, line]));
  for (const row of rows) {
    const line = byKey.get(row.key) || byKey.get("Other");
    const p = periods.includes(row.period) ? row.period : row.period.slice(0, 10);
    line.values.set(p, (line.values.get(p) || 0) + (Number(row[metric]) || 0));
  }
  const points = timeSeries(el, {
    title: `${metricLabel} by ${ctx.params.group_by.replace("_", " ")}, per ${granularity}`,
    description: `${periods.length} periods, ${series.length} series. The table lists every value.`,
    periods,
    periodLabel: (p) => fmt.period(p, granularity),
    series,
    format: kind === "money" ? (v) => fmt.money(v, ctx.currency) : fmt.integer,
    axisFormat: valueAxis(kind, ctx.currency),
  });
  return { points, legend: series.map(({ label, color }) => ({ label, color })) };
}

function drawRoleMix(el, body, ctx) {
  const byRevenue = ctx.view.measure === "revenue";
  const suffix = byRevenue ? "_revenue" : "_count";
  const categories = records(body)
    .map((r) => ({ label: keyLabel(r.partner_id), parts: Object.fromEntries(ROLES.map((role) => [role, Number(r[role + suffix]) || 0])) }))
    .sort((a, b) => sum(Object.values(b.parts)) - sum(Object.values(a.parts)));
  const keys = ROLES.map((role) => ({ key: role, label: titleCase(role), color: ROLE_COLORS[role] }));
  const points = stackedBars(el, {
    title: byRevenue ? "Credited revenue by role, per partner" : "Touches by role, per partner",
    description: `${categories.length} partners: how often each introduces, influences or closes a customer journey.`,
    categories,
    keys,
    format: byRevenue ? (v) => fmt.moneyShort(v, ctx.currency) : fmt.compact,
  });
  return { points, legend: keys };
}

function drawModelComparison(el, body, ctx) {
  // Every column but the partner and the deltas is a model: known ones first, in their order.
  const known = MODEL_COLUMNS.filter(([m]) => body.columns.includes(m));
  const other = body.columns
    .filter((c) => c !== "partner_id" && !c.endsWith("_pct") && !MODEL_LABELS[c])
    .map((c) => [c, titleCase(c)]);
  const present = [...known, ...other];
  const keys = present.map(([key, label], i) => ({ key, label, color: colorAt(i) }));
  const highlight = present.some(([m]) => m === ctx.model) ? ctx.model : "last_touch";
  const rows = records(body)
    .map((r) => ({ label: keyLabel(r.partner_id), values: Object.fromEntries(present.map(([m]) => [m, r[m]])) }))
    .sort((a, b) => (b.values[highlight] || 0) - (a.values[highlight] || 0));
  const points = dotPlot(el, {
    title: "Credited revenue per partner under each attribution model",
    description: `${rows.length} partners, ${keys.length} models; the selected model (${MODEL_LABELS[highlight] || highlight}) is drawn larger.`,
    rows,
    keys,
    highlight,
    format: (v) => fmt.moneyShort(v, ctx.currency),
  });
  return { points, legend: keys.map((k) => ({ ...k, label: k.key === highlight ? `${k.label} (selected)` : k.label })) };
}

function overlapMatrix(body) {
  if (Array.isArray(body.partners) && Array.isArray(body.matrix)) return [body.partners.map(String), body.matrix];
  const rows = records(body);
  const partners = [...new Set(rows.flatMap((r) => [String(r.partner_a), String(r.partner_b)]))].sort();
  const index = new Map(partners.map((p, i) => [p, i]));
  const matrix = partners.map(() => partners.map(() => null));
  for (const r of rows) matrix[index.get(String(r.partner_a))][index.get(String(r.partner_b))] = r.share;
  return [partners, matrix];
}

function drawOverlap(el, body) {
  const [partners, matrix] = overlapMatrix(body);
  const points = heatMap(el, {
    title: "Customer overlap between partners",
    description: `${partners.length} by ${partners.length} matrix: row partner's customers that the column partner also touched.`,
    labels: partners,
    matrix,
    format: (v) => fmt.share(v, 0),
    tip: (a, b, v) => (a === b ? a : `${fmt.share(v)} of ${a}'s customers also touched ${b}`),
  });
  const max = Math.max(0, ...matrix.flatMap((row, i) => row.filter((v, j) => i !== j && typeof v === "number")));
  const scale = [0, 0.25, 0.5, 0.75, 1].map((t) => ({ label: fmt.share(max * t, 0), color: sequential(t) }));
  return { points, legend: max > 0 ? scale : [] };
}

function drawCustomerValue(el, body, ctx) {
  const perCustomer = ctx.view.measure !== "total";
  const prefix = perCustomer ? "per_customer_" : "revenue_";
  const windows = [["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"]];
  const rows = records(body).sort((a, b) => (Number(b[prefix + "90d"]) || 0) - (Number(a[prefix + "90d"]) || 0));
  const keys = windows.map(([w, label], i) => ({ key: w, label: `${label}`, color: ["#a0cbe8", "#4e79a7", "#1d3f6e"][i] }));
  const points = groupedColumns(el, {
    title: perCustomer ? "Revenue per customer by introducing partner" : "Revenue by introducing partner",
    description: `${rows.length} partners; revenue within 7, 30 and 90 days of the first conversion.`,
    groups: rows.map((r) => keyLabel(r.introducer_partner_id)),
    keys,
    values: rows.map((r) => windows.map(([w]) => Number(r[prefix + w]) || 0)),
    format: (v) => fmt.moneyShort(v, ctx.currency),
    tip: (g, k) => `${keyLabel(rows[g].introducer_partner_id)} · ${keys[k].label}: ${fmt.money(rows[g][prefix + windows[k][0]], ctx.currency)}`,
  });
  return { points, legend: keys };
}

function drawCounts(labelOf, title, what) {
  return (el, body) => {
    const rows = records(body);
    const key = body.columns[0];
    const points = columns(el, {
      title,
      description: `${rows.length} ${what}.`,
      labels: rows.map((r) => labelOf(r[key])),
      values: rows.map((r) => Number(r.conversions) || 0),
      format: fmt.compact,
      color: "#4e79a7",
      tip: (i) => `${labelOf(rows[i][key])}: ${fmt.integer(rows[i].conversions)} conversions`,
    });
    return { points, legend: [] };
  };
}

function histogramLabels(edges, count) {
  return Array.from({ length: count }, (_, i) => {
    const lo = edges[i];
    const hi = edges[i + 1];
    if (hi === undefined || hi === null) return `≥ ${fmt.duration(lo)}`;
    return `< ${fmt.duration(hi)}`;
  });
}

function ctitPartners(body) {
  const histogram = (body && body.ctit_histogram) || {};
  return Object.keys(histogram.partners || {}).sort();
}

function drawQuality(el, body, ctx) {
  const histogram = body.ctit_histogram || { buckets: [], partners: {} };
  const partners = ctitPartners(body);
  const chosen = partners.includes(ctx.view.partner) ? [ctx.view.partner] : partners;
  const width = Math.max(0, ...chosen.map((p) => histogram.partners[p].length));
  const counts = Array.from({ length: width }, (_, i) => sum(chosen.map((p) => histogram.partners[p][i])));
  const labels = histogramLabels(histogram.buckets || [], width);
  const who = chosen.length === 1 ? chosen[0] : "all partners";
  const ctitEl = h("div", { className: "sub-chart" });
  const sharesEl = h("div", { className: "sub-chart" });
  el.replaceChildren(ctitEl, sharesEl);
  let points = counts.length
    ? columns(ctitEl, {
        title: `Click-to-install time (CTIT), ${who}`,
        description: `Installs per CTIT bucket for ${who}. Many installs within seconds of the click suggest click injection; a long flat tail suggests click spamming.`,
        labels,
        values: counts,
        height: 220,
        format: fmt.compact,
        color: "#76b7b2",
        tip: (i) => `${labels[i]}: ${fmt.integer(counts[i])} installs (${who})`,
      })
    : 0;
  const shareKeys = [
    { key: "bot_share", label: "Bot share of clicks", color: "#e15759" },
    { key: "flagged_share", label: "Flagged share of clicks", color: "#f28e2b" },
    { key: "flagged_install_share", label: "Flagged share of installs (not paid)", color: "#b07aa1" },
  ];
  const worst = (row) => Math.max(0, ...shareKeys.map(({ key }) => Number(row.values[key]) || 0));
  const rows = records(body)
    .map((r) => ({ label: keyLabel(r.partner_id), values: Object.fromEntries(shareKeys.map(({ key }) => [key, r[key]])) }))
    .sort((a, b) => worst(b) - worst(a));
  if (rows.length) {
    points += dotPlot(sharesEl, {
      title: "Bot and flagged shares per partner",
      description: `${rows.length} partners: the share of their clicks classified as bots or flagged as suspicious, and the share of the installs they won that were flagged (click flooding) and not paid.`,
      rows,
      keys: shareKeys,
      highlight: null,
      zero: true,
      rowHeight: 24,
      format: (v) => fmt.share(v, 0),
    });
  }
  const lines = [rejectedLine(body), ...flaggedInstallLines(body)].filter(Boolean);
  const note = lines.length ? h("div", { className: "quality-notes" }, lines) : null;
  return { points, legend: rows.length ? shareKeys : [], note };
}

function rejectedLine(body) {
  const rejected = Array.isArray(body.rejected) ? body.rejected : [];
  if (!rejected.length) return null;
  return h("p", { className: "chart-note" }, [
    h("strong", { text: "Rejected events: " }),
    rejected.map((r) => `${titleCase(r.reason)} ${fmt.integer(r.count)}`).join(" · "),
  ]);
}

const LATEST_FLAGGED = 5;

/** Which partners' installs were flagged (not credited for pay, not paid), how many of the
 * installs each won, why, and the latest flagged installs by id (for the explain view). */
function flaggedInstallLines(body) {
  const partners = records(body).filter((r) => Number(r.flagged_installs) > 0);
  if (!partners.length) return [];
  const reasons = (text) => String(text || "").split(",").filter(Boolean).map((r) => r.replace(/_/g, " ")).join(", ");
  const perPartner = partners
    .sort((a, b) => Number(b.flagged_installs) - Number(a.flagged_installs))
    .map((r) => {
      const won = Number(r.flagged_installs) + (Number(r.credited_installs) || 0);
      return `${keyLabel(r.partner_id)} ${fmt.integer(r.flagged_installs)} of ${fmt.integer(won)} (${fmt.share(r.flagged_install_share)}): ${reasons(r.flag_reasons) || "flagged"}`;
    });
  const lines = [
    h("p", { className: "chart-note flagged-installs" }, [
      h("strong", { text: "Flagged installs, not paid: " }),
      perPartner.join(" · "),
    ]),
  ];
  const latest = Array.isArray(body.flagged_installs) ? body.flagged_installs.slice(0, LATEST_FLAGGED) : [];
  if (latest.length) {
    lines.push(
      h("p", { className: "chart-note flagged-latest" }, [
        h("strong", { text: "Latest: " }),
        latest.map((f) => `${f.install_id} (${keyLabel(f.partner_id)}, ${fmt.dateTime(f.installed_at)}, ${reasons((f.reasons || []).join(","))})`).join(" · "),
      ]),
    );
  }
  return lines;
}

export const NO_DATA = ["No data for this range", "Try a longer date range or fewer filters."];

const RANGE_PARAMS = ["from", "to", "model", "partner_type", "partner_id", "campaign_id"];

export const REPORTS = [
  {
    name: "performance",
    path: "/v1/reports/performance",
    title: "Performance over time",
    subtitle: "Credited revenue, conversions and traffic per period.",
    size: "wide",
    params: [
      { name: "granularity", label: "Per", options: [["day", "Day"], ["week", "Week"], ["month", "Month"]], value: "day" },
      { name: "group_by", label: "By", options: [["partner", "Partner"], ["partner_type", "Partner type"], ["campaign", "Campaign"]], value: "partner" },
    ],
    views: [{ name: "metric", label: "Show", options: PERFORMANCE_METRICS.map(([m, l]) => [m, l]), value: "credited_revenue" }],
    kinds: {
      clicks: "integer", impressions: "integer", installs: "integer", conversions: "integer",
      revenue: "money", credited_revenue: "money", payouts: "money",
    },
    draw: drawPerformance,
  },
  {
    name: "role-mix",
    path: "/v1/reports/role-mix",
    title: "Role mix",
    subtitle: "Does a partner introduce customers, influence them, or close the sale?",
    views: [{ name: "measure", label: "Show", options: [["count", "Touches"], ["revenue", "Revenue"]], value: "count" }],
    kinds: {
      introducer_count: "integer", influencer_count: "integer", closer_count: "integer",
      introducer_revenue: "money", influencer_revenue: "money", closer_revenue: "money",
    },
    draw: drawRoleMix,
  },
  {
    name: "model-comparison",
    path: "/v1/reports/model-comparison",
    title: "Attribution models compared",
    subtitle: "How much each partner earns credit for under each model.",
    kinds: {
      ...Object.fromEntries(MODEL_COLUMNS.map(([m]) => [m, "money"])),
      last_touch_delta_pct: "percent",
    },
    labels: { ...MODEL_LABELS, last_touch_delta_pct: "Δ vs last touch" },
    draw: drawModelComparison,
  },
  {
    name: "overlap",
    path: "/v1/reports/overlap",
    title: "Partner overlap",
    subtitle: "Share of one partner's customers that another partner also touched.",
    kinds: { customers_a: "integer", shared: "integer", share: "share" },
    empty: (body) => {
      const partners = overlapMatrix(body)[0].length;
      if (partners === 0) return NO_DATA;
      return partners === 1 ? ["One partner only in this range", "Overlap compares two partners or more."] : null;
    },
    draw: drawOverlap,
  },
  {
    name: "quality",
    path: "/v1/reports/quality",
    title: "Traffic quality",
    subtitle: "Click-to-install time per bucket, bot and flagged shares per partner, and installs flagged for click flooding (not paid).",
    views: [{ name: "partner", label: "Partner", options: (body) => [["", "All partners"], ...ctitPartners(body).map((p) => [p, p])], value: "" }],
    kinds: {
      clicks: "integer", bot_share: "share", flagged_share: "share", ctit_p10: "duration",
      ctit_p50: "duration", ctit_p90: "duration", installs: "integer",
      credited_installs: "integer", flagged_installs: "integer", flagged_install_share: "share",
    },
    labels: {
      ctit_p10: "CTIT p10", ctit_p50: "CTIT p50", ctit_p90: "CTIT p90",
      flagged_share: "Flagged share of clicks", flagged_installs: "Flagged installs (not paid)",
      flagged_install_share: "Flagged share of installs", flag_reasons: "Flag reasons",
    },
    empty: (body) => (ctitPartners(body).length === 0 && !(body.rows || []).length ? NO_DATA : null),
    draw: drawQuality,
  },
  {
    name: "customer-value",
    size: "third",
    path: "/v1/reports/customer-value",
    title: "Customer value by introducer",
    subtitle: "Revenue of the customers each partner introduced, 7, 30 and 90 days on.",
    views: [{ name: "measure", label: "Show", options: [["per_customer", "Per customer"], ["total", "Total"]], value: "per_customer" }],
    kinds: {
      customers: "integer", revenue_7d: "money", revenue_30d: "money", revenue_90d: "money",
      per_customer_7d: "money", per_customer_30d: "money", per_customer_90d: "money",
    },
    draw: drawCustomerValue,
  },
  {
    name: "time-to-convert",
    size: "third",
    path: "/v1/reports/time-to-convert",
    title: "Time to convert",
    subtitle: "From the first touch to the conversion.",
    kinds: { conversions: "integer" },
    draw: drawCounts((b) => String(b), "Conversions by time from first touch", "time buckets"),
  },
  {
    name: "path-length",
    size: "third",
    path: "/v1/reports/path-length",
    title: "Path length",
    subtitle: "How many partner touches preceded a conversion.",
    kinds: { touches: "integer", conversions: "integer" },
    draw: drawCounts((t) => (Number(t) === 1 ? "1 touch" : `${t} touches`), "Conversions by number of touches", "path lengths"),
  },
];

export { RANGE_PARAMS };
