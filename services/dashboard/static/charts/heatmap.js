// A heat map of a square matrix: the cell of row a, column b holds the share of a's customers
// that b also touched.

import { chartRoot, clip, s, sequential } from "../svg.js";

const CHAR_PX = 6.6;

/**
 * spec: { title, description, labels: [text], matrix: [[number|null]], format, tip(a, b, v) }
 */
export function heatMap(container, spec) {
  const width = Math.max(320, container.clientWidth || 640);
  const n = spec.labels.length;
  const labelTexts = spec.labels.map((l) => clip(l, 20));
  const labelWidth = Math.max(...labelTexts.map((t) => t.length)) * CHAR_PX + 12;
  const margin = {
    top: Math.min(130, labelWidth * 0.66 + 12),
    right: Math.min(110, labelWidth * 0.7),
    bottom: 10,
    left: labelWidth,
  };
  const cell = Math.max(14, Math.min(72, (width - margin.left - margin.right) / n));
  const height = margin.top + margin.bottom + cell * n;
  let max = 0;
  spec.matrix.forEach((row, i) =>
    row.forEach((v, j) => {
      if (i !== j && typeof v === "number") max = Math.max(max, v);
    }),
  );

  const root = chartRoot(margin.left + cell * n + margin.right, height, spec.title, spec.description);
  root.classList.add("centered");
  const cells = s("g", { class: "cells" });
  let points = 0;
  for (let i = 0; i < n; i += 1) {
    for (let j = 0; j < n; j += 1) {
      const value = spec.matrix[i]?.[j];
      const x = margin.left + j * cell;
      const y = margin.top + i * cell;
      const diagonal = i === j;
      const known = typeof value === "number";
      const t = known && max > 0 ? value / max : 0;
      cells.append(
        s("rect", {
          class: diagonal ? "datum diagonal" : "datum",
          x: x + 1,
          y: y + 1,
          width: cell - 2,
          height: cell - 2,
          rx: 3,
          fill: diagonal || !known ? "#eef1f5" : sequential(t),
          "data-tip": spec.tip(spec.labels[i], spec.labels[j], value),
        }),
      );
      if (cell >= 34 && known && !diagonal) {
        cells.append(
          s(
            "text",
            { class: t > 0.55 ? "cell-label dark" : "cell-label", x: x + cell / 2, y: y + cell / 2, dy: "0.32em", "text-anchor": "middle" },
            spec.format(value),
          ),
        );
      }
      points += 1;
    }
  }
  const rowLabels = s(
    "g",
    { class: "axis" },
    labelTexts.map((label, i) =>
      s("text", { x: margin.left - 8, y: margin.top + i * cell + cell / 2, dy: "0.32em", "text-anchor": "end" }, label),
    ),
  );
  const colLabels = s(
    "g",
    { class: "axis" },
    labelTexts.map((label, j) => {
      const cx = margin.left + j * cell + cell / 2;
      return s("text", { x: cx, y: margin.top - 8, transform: `rotate(-40 ${cx} ${margin.top - 8})`, "text-anchor": "start" }, label);
    }),
  );
  root.append(cells, rowLabels, colLabels);
  container.replaceChildren(root);
  return points;
}
