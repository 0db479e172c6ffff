// A dot plot: one row per category, one dot per key on a shared value axis; a bar joins the
// smallest and largest value so the spread between keys (attribution models) stands out.

import { bands, chartRoot, clip, linear, niceTicks, s, xAxis } from "../svg.js";

const CHAR_PX = 6.6;

/**
 * spec: { title, description, rows: [{ label, values: { key: number } }],
 *         keys: [{ key, label, color }], highlight: key, format, zero: bool }
 * Without `zero` the axis spans the values only (positions are compared, not lengths).
 */
export function dotPlot(container, spec) {
  const width = Math.max(320, container.clientWidth || 640);
  const rowHeight = spec.rowHeight || 30;
  const all = spec.rows
    .flatMap((r) => spec.keys.map((k) => r.values[k.key]))
    .filter((v) => typeof v === "number" && Number.isFinite(v));
  if (!all.length) all.push(0);
  // No zero baseline: a dot plot compares positions, and the spread between models is the story.
  const low = Math.min(...all);
  const high = Math.max(...all);
  const pad = (high - low) * 0.08 || Math.abs(high) * 0.1 || 1;
  // Amounts that are all positive never get a negative axis.
  const floor = low >= 0 ? Math.max(0, low - pad) : low - pad;
  const ticks = spec.zero ? niceTicks(Math.min(0, low), Math.max(0, high), 5) : niceTicks(floor, high + pad, 5);
  const labelTexts = spec.rows.map((r) => clip(r.label, 22));
  const labelWidth = Math.max(...labelTexts.map((t) => t.length)) * CHAR_PX + 14;
  const margin = { top: 10, right: 24, bottom: 26, left: Math.max(60, labelWidth) };
  const height = margin.top + margin.bottom + spec.rows.length * rowHeight;
  const plotBottom = height - margin.bottom;
  const x = linear(ticks[0], ticks[ticks.length - 1], margin.left, width - margin.right);
  const rows = bands(spec.rows.length, margin.top, plotBottom, 0);

  const root = chartRoot(width, height, spec.title, spec.description);
  root.append(xAxis(ticks, x, margin.top, plotBottom, spec.format));
  let points = 0;
  spec.rows.forEach((row, ri) => {
    const cy = rows.at(ri) + rows.size / 2;
    const group = s("g", { class: "dot-row", "data-row": row.label });
    const present = spec.keys.filter((k) => typeof row.values[k.key] === "number" && Number.isFinite(row.values[k.key]));
    const vals = present.map((k) => row.values[k.key]);
    group.append(
      s("text", { class: "row-label", x: margin.left - 8, y: cy, dy: "0.32em", "text-anchor": "end" }, labelTexts[ri]),
    );
    if (vals.length > 1) {
      group.append(
        s("line", { class: "spread", x1: x(Math.min(...vals)), x2: x(Math.max(...vals)), y1: cy, y2: cy }),
      );
    }
    // The highlighted key is drawn last so it sits on top.
    const ordered = [...present.filter((k) => k.key !== spec.highlight), ...present.filter((k) => k.key === spec.highlight)];
    for (const key of ordered) {
      const value = row.values[key.key];
      group.append(
        s("circle", {
          class: key.key === spec.highlight ? "datum highlight" : "datum",
          cx: x(value).toFixed(1),
          cy,
          r: key.key === spec.highlight ? 7 : 5.5,
          fill: key.color,
          "data-key": key.key,
          "data-tip": `${row.label} · ${key.label}: ${spec.format(value)}`,
        }),
      );
      points += 1;
    }
    root.append(group);
  });
  container.replaceChildren(root);
  return points;
}
