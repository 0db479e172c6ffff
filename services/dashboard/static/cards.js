// One report card: title, its own controls, the chart (or an empty / error / loading state),
// a legend, a "Show table" toggle and a "Download CSV" link.

import { csvUrl } from "./api.js";
import { NO_DATA } from "./reports.js";
import { dataTable } from "./table.js";
import { h, legend, s, uid } from "./svg.js";

function select(control, value, onChange) {
  const id = uid(`control-${control.name}`);
  const box = h("select", { id, name: control.name });
  const options = typeof control.options === "function" ? control.options(null) : control.options;
  box.replaceChildren(...options.map(([v, label]) => h("option", { value: v, text: label })));
  box.value = value;
  box.addEventListener("change", () => onChange(box.value));
  return { wrap: h("label", { className: "control", for: id }, [h("span", { text: control.label }), box]), box };
}

// Small line icons (no icon font, no emoji: headless and locked-down machines lack them).
const ICONS = {
  empty: [["circle", { cx: 12, cy: 12, r: 8 }], ["path", { d: "M6.5 17.5 17.5 6.5" }]],
  error: [["path", { d: "M12 7v6" }], ["circle", { cx: 12, cy: 16.5, r: 0.6 }]],
  idle: [["rect", { x: 6, y: 11, width: 12, height: 8, rx: 2 }], ["path", { d: "M9 11V8a3 3 0 0 1 6 0v3" }]],
};

function icon(kind) {
  const shapes = (ICONS[kind] || ICONS.idle).map(([tag, attrs]) => s(tag, attrs));
  return s("svg", { viewBox: "0 0 24 24", width: 22, height: 22, class: "icon", "aria-hidden": "true", focusable: "false" }, shapes);
}

function stateMessage(kind, title, hint) {
  return h("div", { className: `state-message ${kind}`, role: kind === "error" ? "alert" : null }, [
    h("span", { className: "state-icon", "aria-hidden": "true" }, [icon(kind)]),
    h("p", { className: "state-title", text: title }),
    hint ? h("p", { className: "state-hint", text: hint }) : null,
  ]);
}

export class ReportCard {
  constructor(def, onParamsChange) {
    this.def = def;
    this.params = Object.fromEntries((def.params || []).map((p) => [p.name, p.value]));
    this.view = Object.fromEntries((def.views || []).map((v) => [v.name, v.value]));
    this.body = null;
    this.ctx = null;
    this.lastWidth = 0;
    this.viewBoxes = {};

    const titleId = `card-${def.name}-title`;
    const tableId = `card-${def.name}-table`;
    const controls = h("div", { className: "card-controls" });
    for (const param of def.params || []) {
      const { wrap } = select(param, this.params[param.name], (value) => {
        this.params[param.name] = value;
        onParamsChange(this);
      });
      controls.append(wrap);
    }
    for (const view of def.views || []) {
      const { wrap, box } = select(view, this.view[view.name], (value) => {
        this.view[view.name] = value;
        this.redraw();
      });
      this.viewBoxes[view.name] = box;
      controls.append(wrap);
    }
    this.chart = h("div", { className: "chart", "aria-live": "polite" });
    this.legend = h("div", { className: "legend-wrap" });
    this.note = h("div", { className: "note-wrap" });
    this.toggle = h("button", {
      type: "button",
      className: "table-toggle",
      "aria-expanded": "false",
      "aria-controls": tableId,
      text: "Show table",
    });
    this.csv = h("a", { className: "csv-link", text: "Download CSV", "aria-disabled": "true" });
    this.tableWrap = h("div", { className: "table-wrap", id: tableId, hidden: true });
    this.toggle.addEventListener("click", () => this.setTableOpen(this.tableWrap.hidden));

    this.el = h(
      "article",
      { className: def.size ? `card ${def.size}` : "card", id: `card-${def.name}`, "data-report": def.name, "data-state": "idle", "aria-labelledby": titleId },
      [
        h("header", { className: "card-head" }, [
          h("div", {}, [h("h2", { id: titleId, text: def.title }), h("p", { className: "subtitle", text: def.subtitle })]),
          controls,
        ]),
        this.chart,
        this.legend,
        this.note,
        h("footer", { className: "card-foot" }, [this.toggle, this.csv]),
        this.tableWrap,
      ],
    );
  }

  setState(state) {
    this.el.dataset.state = state;
    this.toggle.disabled = state !== "ready";
    this.el.setAttribute("aria-busy", state === "loading" ? "true" : "false");
  }

  /** The CSV link for the API query (or a disabled link without a key); `range` is the
   * inclusive range shown to the user, for the file name. */
  setQuery(query, key, range) {
    const params = { ...query, ...this.params };
    if (key) {
      this.csv.href = csvUrl(this.def.path, params, key);
      this.csv.setAttribute("download", `${this.def.name}_${range.from || ""}_${range.to || ""}.csv`);
      this.csv.removeAttribute("aria-disabled");
    } else {
      this.csv.removeAttribute("href");
      this.csv.setAttribute("aria-disabled", "true");
    }
    return params;
  }

  showMessage(state, title, hint) {
    this.body = null;
    this.setState(state);
    this.chart.replaceChildren(stateMessage(state, title, hint));
    this.legend.replaceChildren();
    this.note.replaceChildren();
    this.tableWrap.replaceChildren();
  }

  showLoading() {
    this.setState("loading");
    this.chart.replaceChildren(h("div", { className: "skeleton", "aria-label": "Loading" }));
  }

  show(body, ctx) {
    this.body = body;
    this.ctx = ctx;
    for (const view of this.def.views || []) {
      if (typeof view.options !== "function") continue;
      const box = this.viewBoxes[view.name];
      box.replaceChildren(...view.options(body).map(([v, label]) => h("option", { value: v, text: label })));
      if (![...box.options].some((o) => o.value === this.view[view.name])) this.view[view.name] = view.value;
      box.value = this.view[view.name];
    }
    const empty = this.def.empty ? this.def.empty(body) : (body.rows || []).length ? null : NO_DATA;
    if (empty) {
      this.showMessage("empty", ...empty);
      return;
    }
    this.redraw();
    this.renderTable();
  }

  redraw() {
    if (!this.body || this.el.dataset.state === "empty") return;
    const result = this.def.draw(this.chart, this.body, { ...this.ctx, params: this.params, view: this.view });
    this.lastWidth = this.chart.clientWidth;
    this.chart.dataset.points = String(result.points);
    this.legend.replaceChildren(...(result.legend.length > 1 ? [legend(result.legend)] : []));
    this.note.replaceChildren(...(result.note ? [result.note] : []));
    this.setState("ready");
  }

  /** Redraw at the new width if the card was resized. */
  resized() {
    if (this.body && this.el.dataset.state === "ready" && this.chart.clientWidth !== this.lastWidth) this.redraw();
  }

  renderTable() {
    if (!this.body || this.tableWrap.hidden) return;
    const { columns = [], rows = [] } = this.body;
    this.tableWrap.replaceChildren(
      dataTable(columns, rows, this.def.kinds || {}, {
        caption: `${this.def.title}, ${this.ctx.range.from} to ${this.ctx.range.to}`,
        currency: this.ctx.currency,
        labels: this.def.labels,
      }),
    );
  }

  setTableOpen(open) {
    this.tableWrap.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    this.toggle.textContent = open ? "Hide table" : "Show table";
    if (open) this.renderTable();
  }
}
