// A time series: one line per series over the report periods, a dot per data point.

import { chartRoot, clip, linear, niceTicks, s, yAxis } from "../svg.js";

const HEIGHT = 280;
const CHAR_PX = 6.6;

/**
 * spec: { title, description, periods: [period], periodLabel(period) -> text,
 *         series: [{ label, color, values: Map(period -> number) }], format(value) -> text,
 *         axisFormat?(value) -> short text }
 * Returns the number of data points drawn.
 */
export function timeSeries(container, spec) {
  const width = Math.max(320, container.clientWidth || 640);
  const values = spec.series.flatMap((line) => [...line.values.values()]);
  const ticks = niceTicks(Math.min(0, ...values), Math.max(0, ...values), 5);
  const axisFormat = spec.axisFormat || spec.format;
  const labelWidth = Math.max(...ticks.map((t) => axisFormat(t).length)) * CHAR_PX;
  const margin = { top: 12, right: 18, bottom: 30, left: Math.max(36, labelWidth + 14) };
  const plotRight = width - margin.right;
  const plotBottom = HEIGHT - margin.bottom;
  const count = spec.periods.length;
  const x =
    count === 1
      ? () => (margin.left + plotRight) / 2
      : (i) => linear(0, count - 1, margin.left + 6, plotRight - 6)(i);
  const y = linear(ticks[0], ticks[ticks.length - 1], plotBottom, margin.top);

  const root = chartRoot(width, HEIGHT, spec.title, spec.description);
  root.append(yAxis(ticks, y, margin.left, plotRight, axisFormat));

  const labelEvery = Math.max(1, Math.ceil((count * 72) / (plotRight - margin.left)));
  const xLabels = s("g", { class: "axis axis-x" });
  spec.periods.forEach((p, i) => {
    if (i % labelEvery !== 0) return;
    xLabels.append(
      s("text", { x: x(i), y: plotBottom + 18, "text-anchor": "middle" }, clip(spec.periodLabel(p), 12)),
    );
  });
  root.append(xLabels);

  const radius = count > 60 ? 2 : 3.2;
  let points = 0;
  const single = spec.series.length === 1;
  for (const line of spec.series) {
    const group = s("g", { class: "series", "data-series": line.label });
    const coords = spec.periods.map((p, i) => [x(i), y(line.values.get(p) ?? 0)]);
    const d = coords.map(([cx, cy], i) => `${i === 0 ? "M" : "L"}${cx.toFixed(1)},${cy.toFixed(1)}`).join("");
    if (single && count > 1) {
      const area = `${d}L${coords[coords.length - 1][0].toFixed(1)},${plotBottom}L${coords[0][0].toFixed(1)},${plotBottom}Z`;
      group.append(s("path", { d: area, fill: line.color, class: "area" }));
    }
    if (count > 1) group.append(s("path", { d, stroke: line.color, class: "line" }));
    spec.periods.forEach((p, i) => {
      const value = line.values.get(p) ?? 0;
      group.append(
        s("circle", {
          class: "datum",
          cx: coords[i][0].toFixed(1),
          cy: coords[i][1].toFixed(1),
          r: radius,
          fill: line.color,
          "data-tip": `${line.label} · ${spec.periodLabel(p)}: ${spec.format(value)}`,
        }),
      );
      points += 1;
    });
    root.append(group);
  }
  container.replaceChildren(root);
  return points;
}
