// The explain view: one conversion's path (touches with roles and credit weights), the touches
// that were excluded and why, and the payouts it triggered.

import { getJson } from "./api.js";
import { pathTimeline } from "./charts/timeline.js";
import * as fmt from "./format.js";
import { MODELS } from "./reports.js";
import { h } from "./svg.js";
import { dataTable } from "./table.js";

const MODEL_LABELS = Object.fromEntries(MODELS);

function elapsed(fromTs, toTs) {
  const from = fmt.toDate(fromTs);
  const to = fmt.toDate(toTs);
  const seconds = from && to ? (to.getTime() - from.getTime()) / 1000 : NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? fmt.duration(seconds) : "";
}

function summary(conversion) {
  const currency = conversion.currency || null;
  const items = Object.entries(conversion).filter(([, v]) => v !== null && v !== "" && typeof v !== "object");
  return h(
    "dl",
    { className: "summary" },
    items.flatMap(([key, value]) => {
      let text = typeof value === "boolean" ? (value ? "yes" : "no") : String(value);
      if (/revenue|amount/.test(key) && typeof value === "number") text = fmt.money(value, currency);
      else if (/(^ts$|^ts_ms$|_ts$|_at$|time)/.test(key) && value) text = fmt.dateTime(value);
      const label = key === "ts" || key === "ts_ms" ? "time" : key.replace(/_/g, " ");
      return [h("dt", { text: label }), h("dd", { text })];
    }),
  );
}

function section(title, content) {
  return h("section", { className: "explain-section" }, [h("h3", { text: title }), content]);
}

/** A credit's fraud flags as text ("click flooding"), null without any. */
function flagText(flags) {
  const list = Array.isArray(flags) ? flags.filter(Boolean) : [];
  return list.length ? list.map((f) => String(f).replace(/_/g, " ")).join(", ") : null;
}

function note(text) {
  return h("p", { className: "muted", text });
}

/** Path entries of one model: the requested one if present, else the first model listed. */
function pathFor(path, model) {
  const models = [...new Set(path.map((p) => p.model).filter(Boolean))];
  if (!models.length || models.includes(model)) {
    return { model, steps: models.length ? path.filter((p) => p.model === model) : path };
  }
  return { model: models[0], steps: path.filter((p) => p.model === models[0]) };
}

export class ExplainView {
  constructor(root, getContext) {
    this.root = root;
    this.getContext = getContext;
    this.form = root.querySelector("#explain-form");
    this.input = root.querySelector("#conversion-id");
    this.result = root.querySelector("#explain-result");
    this.body = null;
    this.model = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.load(this.input.value.trim());
    });
  }

  setState(state) {
    this.root.dataset.state = state;
  }

  message(state, title, hint) {
    this.setState(state);
    this.result.replaceChildren(
      h("div", { className: `state-message ${state}`, role: state === "error" ? "alert" : null }, [
        h("p", { className: "state-title", text: title }),
        hint ? h("p", { className: "state-hint", text: hint }) : null,
      ]),
    );
  }

  /** Explain `conversionId` under `model` (by default the model chosen in the filters). */
  async load(conversionId, model = this.getContext().model) {
    const { key } = this.getContext();
    if (!conversionId) return this.message("error", "Enter a conversion id.");
    if (!key) return this.message("idle", "Enter your read key above to explain a conversion.");
    const sameConversion = this.body && this.input.value.trim() === conversionId && this.root.dataset.state === "ready";
    this.input.value = conversionId;
    this.setState("loading");
    // Another model for the same conversion: keep showing the current one until it arrives.
    if (!sameConversion) this.result.replaceChildren(h("div", { className: "skeleton short", "aria-label": "Loading" }));
    try {
      const path = `/v1/conversions/${encodeURIComponent(conversionId)}/explain`;
      this.body = await getJson(path, { model }, key);
      this.model = model;
      this.render();
    } catch (error) {
      if (error.status === 404) this.message("empty", `No conversion ${conversionId} in this store.`, "Check the id: it is the conversion_id sent with the conversion.");
      else this.message("error", "Could not explain this conversion.", error.message);
    }
    return undefined;
  }

  render() {
    const refocus = document.activeElement && document.activeElement.id === "explain-model";
    const body = this.body;
    const conversion = body.conversion || {};
    const currency = conversion.currency || null;
    const { model, steps } = pathFor(body.path || [], this.model);
    const excluded = body.excluded || [];
    const payouts = body.payouts || [];

    const timeline = [
      ...steps.map((p) => ({ ...p, excluded: false })),
      ...excluded.map((e) => ({ ...e, excluded: true })),
    ].sort((a, b) => (fmt.toDate(a.ts)?.getTime() ?? 0) - (fmt.toDate(b.ts)?.getTime() ?? 0));
    const conversionTs = conversion.ts ?? conversion.ts_ms ?? null;
    const chartSteps = timeline.map((t, i) => {
      const next = i + 1 < timeline.length ? timeline[i + 1].ts : conversionTs;
      const credit = t.excluded
        ? `excluded: ${String(t.reason).replace(/_/g, " ")}`
        : `${t.role || "touch"}, ${fmt.share(t.weight || 0)} of the credit (${fmt.money(t.credited_revenue, currency)})` +
          (flagText(t.fraud_flags) ? `, flagged ${flagText(t.fraud_flags)}: not paid` : "");
      return {
        label: t.partner_id,
        detail: t.excluded ? String(t.reason).replace(/_/g, " ") : [t.type, t.role].filter(Boolean).join(" · "),
        time: fmt.dateTime(t.ts),
        top: t.excluded ? "excluded" : fmt.share(Number(t.weight) || 0, 0),
        role: t.role,
        weight: t.excluded ? null : Number(t.weight) || 0,
        excluded: t.excluded,
        elapsed: next ? elapsed(t.ts, next) : "",
        tip: `${t.partner_id} ${t.type || "touch"} at ${fmt.dateTime(t.ts)}: ${credit}`,
      };
    });

    const chart = h("div", { className: "chart timeline" });
    const modelSelect = h("select", { id: "explain-model" }, MODELS.map(([m, label]) => h("option", { value: m, text: label })));
    modelSelect.value = model;
    modelSelect.addEventListener("change", () => this.load(this.input.value.trim() || conversion.conversion_id, modelSelect.value));

    const pathColumns = ["ts", "partner_id", "type", "role", "weight", "credited_revenue", "fraud_flags"];
    const pathTable = dataTable(pathColumns, steps.map((p) => pathColumns.map((c) => (c === "fraud_flags" ? flagText(p.fraud_flags) : p[c] ?? null))), {
      ts: "datetime", weight: "share", credited_revenue: "money",
    }, { caption: `Touches credited under ${MODEL_LABELS[model] || model || "the model"}`, currency, labels: { ts: "Time", partner_id: "Partner", fraud_flags: "Flagged (not paid)" } });
    pathTable.id = "explain-path";

    const excludedColumns = ["ts", "partner_id", "reason"];
    const payoutColumns = ["partner_id", "payout_type", "amount", "currency", "contract_id"];
    this.result.replaceChildren(
      h("div", { className: "explain-grid" }, [
        section("Conversion", summary(conversion)),
        h("section", { className: "explain-section grow" }, [
          h("div", { className: "explain-head" }, [
            h("h3", { text: "Path to conversion" }),
            h("label", { className: "control", for: "explain-model" }, [h("span", { text: "Credit under" }), modelSelect]),
          ]),
          chart,
          pathTable,
        ]),
      ]),
      h("div", { className: "explain-grid" }, [
        section(
          "Excluded touches",
          excluded.length
            ? dataTable(excludedColumns, excluded.map((e) => excludedColumns.map((c) => (c === "reason" ? String(e.reason).replace(/_/g, " ") : e[c] ?? null))), { ts: "datetime" }, { labels: { ts: "Time", partner_id: "Partner" } })
            : note("No touch was excluded."),
        ),
        section(
          "Payouts",
          payouts.length
            ? dataTable(
                payoutColumns,
                payouts.map((p) => payoutColumns.map((c) => (c === "amount" ? fmt.money(p.amount, p.currency) : p[c] ?? null))),
                { amount: "numtext" },
                { labels: { partner_id: "Partner" } },
              )
            : note("This conversion triggered no payout."),
        ),
      ]),
    );
    if (chartSteps.length) {
      pathTimeline(chart, {
        title: `Path of conversion ${conversion.conversion_id || ""}`.trim(),
        description: `${steps.length} credited touches and ${excluded.length} excluded, in time order, ending at the conversion.`,
        conversionLabel: fmt.dateTime(conversionTs),
        conversionDetail: typeof conversion.revenue === "number" ? fmt.money(conversion.revenue, currency) : "",
        steps: chartSteps,
      });
    } else {
      chart.replaceChildren(note("No partner touch preceded this conversion: nobody was credited."));
    }
    this.setState("ready");
    if (refocus) modelSelect.focus();
  }
}
