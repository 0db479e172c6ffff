// Data tables: a caption, formatted cells, numbers right-aligned, sortable by any column.

import { formatterFor, isNumericKind } from "./format.js";
import { h } from "./svg.js";

function humanize(column) {
  const text = column.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/**
 * columns: [name]; rows: [[value]]; kinds: { column: kind } (see format.formatterFor).
 * options: { caption, currency, labels: { column: header text } }
 */
export function dataTable(columns, rows, kinds, options = {}) {
  const formatters = columns.map((c) => formatterFor(kinds[c] || "text", options.currency));
  const numeric = columns.map((c) => isNumericKind(kinds[c]));
  const table = h("table", { className: "data-table" });
  if (options.caption) table.append(h("caption", { text: options.caption }));
  const headRow = h("tr");
  const tbody = h("tbody");
  let sortColumn = -1;
  let descending = false;

  const fill = () => {
    const order = rows.map((_, i) => i);
    if (sortColumn >= 0) {
      order.sort((i, j) => compare(rows[i][sortColumn], rows[j][sortColumn]) * (descending ? -1 : 1));
    }
    tbody.replaceChildren(
      ...order.map((i) =>
        h(
          "tr",
          {},
          columns.map((_, c) => h("td", { className: numeric[c] ? "num" : null, text: formatters[c](rows[i][c]) })),
        ),
      ),
    );
    headRow.querySelectorAll("th").forEach((th, c) => {
      th.setAttribute("aria-sort", c === sortColumn ? (descending ? "descending" : "ascending") : "none");
    });
  };

  columns.forEach((column, c) => {
    const label = (options.labels && options.labels[column]) || humanize(column);
    const button = h("button", { type: "button", className: "sort", text: label, title: `Sort by ${label}` });
    button.addEventListener("click", () => {
      descending = sortColumn === c ? !descending : numeric[c];
      sortColumn = c;
      fill();
    });
    headRow.append(h("th", { scope: "col", className: numeric[c] ? "num" : null }, [button]));
  });
  table.append(h("thead", {}, [headRow]), tbody);
  fill();
  return table;
}
