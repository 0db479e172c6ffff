// Bar charts: vertical columns (one series), grouped columns, and horizontal stacked bars.

import { bands, chartRoot, clip, linear, niceTicks, s, xAxis, yAxis } from "../svg.js";

const CHAR_PX = 6.6;

function leftMargin(texts, min = 36) {
  return Math.max(min, Math.max(0, ...texts.map((t) => t.length)) * CHAR_PX + 14);
}

/**
 * Vertical columns, one per label (histograms, time to convert, path length).
 * spec: { title, description, labels: [text], values: [number], format, color, tip(i) -> text }
 */
export function columns(container, spec) {
  return groupedColumns(container, {
    ...spec,
    groups: spec.labels,
    keys: [{ key: "value", label: spec.seriesLabel || "", color: spec.color }],
    values: spec.values.map((v) => [v]),
    valueLabels: true,
  });
}

/**
 * Columns grouped by label, one colour per key.
 * spec: { title, description, groups: [text], keys: [{ key, label, color }],
 *         values: [[number per key] per group], format, tip(groupIndex, keyIndex) -> text }
 */
export function groupedColumns(container, spec) {
  const width = Math.max(320, container.clientWidth || 640);
  const height = spec.height || 260;
  const all = spec.values.flat();
  const ticks = niceTicks(0, Math.max(0, ...all), 5);
  const margin = {
    top: 16,
    right: 14,
    bottom: 34,
    left: leftMargin(ticks.map((t) => spec.format(t))),
  };
  const plotBottom = height - margin.bottom;
  const y = linear(0, ticks[ticks.length - 1], plotBottom, margin.top);
  const outer = bands(spec.groups.length, margin.left, width - margin.right, 0.22);
  // Few groups: keep bars at a readable width instead of stretching them across the card.
  const groupWidth = Math.min(outer.size, spec.keys.length === 1 ? 72 : spec.keys.length * 36);
  const inner = bands(spec.keys.length, (outer.size - groupWidth) / 2, (outer.size + groupWidth) / 2, spec.keys.length > 1 ? 0.08 : 0);

  const root = chartRoot(width, height, spec.title, spec.description);
  root.append(yAxis(ticks, y, margin.left, width - margin.right, spec.format));
  const labelChars = Math.max(4, Math.floor(outer.step / 7.2) - 1);
  const labelEvery = Math.max(1, Math.ceil(40 / outer.step));
  const bars = s("g", { class: "bars" });
  const labels = s("g", { class: "axis axis-x" });
  let points = 0;
  spec.groups.forEach((group, gi) => {
    const x0 = outer.at(gi);
    spec.keys.forEach((key, ki) => {
      const value = spec.values[gi][ki] ?? 0;
      const top = y(Math.max(0, value));
      const tip = spec.tip
        ? spec.tip(gi, ki)
        : `${group}${key.label ? ` · ${key.label}` : ""}: ${spec.format(value)}`;
      bars.append(
        s("rect", {
          class: "datum",
          x: (x0 + inner.at(ki)).toFixed(1),
          y: top.toFixed(1),
          width: Math.max(1, inner.size).toFixed(1),
          height: Math.max(value > 0 ? 1 : 0, plotBottom - top).toFixed(1),
          fill: key.color,
          rx: 2,
          "data-tip": tip,
        }),
      );
      if (spec.valueLabels && inner.size >= 30 && value > 0) {
        bars.append(
          s(
            "text",
            { class: "value-label", x: x0 + inner.at(ki) + inner.size / 2, y: top - 4, "text-anchor": "middle" },
            spec.format(value),
          ),
        );
      }
      points += 1;
    });
    if (gi % labelEvery === 0) {
      labels.append(
        s("text", { x: x0 + outer.size / 2, y: plotBottom + 18, "text-anchor": "middle" }, clip(group, labelChars)),
      );
    }
  });
  root.append(bars, labels);
  container.replaceChildren(root);
  return points;
}

/**
 * Horizontal bars, one per category, stacked by key.
 * spec: { title, description, categories: [{ label, parts: { key: number } }],
 *         keys: [{ key, label, color }], format, totalFormat? }
 */
export function stackedBars(container, spec) {
  const width = Math.max(320, container.clientWidth || 640);
  const rowHeight = 30;
  const totals = spec.categories.map((c) => spec.keys.reduce((sum, k) => sum + (c.parts[k.key] || 0), 0));
  const ticks = niceTicks(0, Math.max(0, ...totals), 4);
  const labelTexts = spec.categories.map((c) => clip(c.label, 22));
  const margin = { top: 8, right: 64, bottom: 26, left: leftMargin(labelTexts, 60) };
  const height = margin.top + margin.bottom + spec.categories.length * rowHeight;
  const plotBottom = height - margin.bottom;
  const x = linear(0, ticks[ticks.length - 1], margin.left, width - margin.right);
  const rows = bands(spec.categories.length, margin.top, plotBottom, 0.3);

  const root = chartRoot(width, height, spec.title, spec.description);
  root.append(xAxis(ticks, x, margin.top, plotBottom, spec.format));
  const group = s("g", { class: "bars" });
  let points = 0;
  spec.categories.forEach((category, ci) => {
    const top = rows.at(ci);
    group.append(
      s("text", { class: "row-label", x: margin.left - 8, y: top + rows.size / 2, dy: "0.32em", "text-anchor": "end" }, labelTexts[ci]),
    );
    let offset = 0;
    for (const key of spec.keys) {
      const value = category.parts[key.key] || 0;
      if (value <= 0) continue;
      const share = totals[ci] ? value / totals[ci] : 0;
      group.append(
        s("rect", {
          class: "datum",
          x: x(offset).toFixed(1),
          y: top.toFixed(1),
          width: Math.max(1, x(offset + value) - x(offset)).toFixed(1),
          height: rows.size.toFixed(1),
          fill: key.color,
          "data-tip": `${category.label} · ${key.label}: ${spec.format(value)} (${Math.round(share * 100)}%)`,
        }),
      );
      offset += value;
      points += 1;
    }
    group.append(
      s("text", { class: "value-label", x: x(offset) + 6, y: top + rows.size / 2, dy: "0.32em" }, (spec.totalFormat || spec.format)(totals[ci])),
    );
  });
  root.append(group);
  container.replaceChildren(root);
  return points;
}
