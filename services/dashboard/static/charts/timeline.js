// The path of one conversion: its touches in time order, coloured by role and sized by the
// credit weight they received, ending at the conversion; excluded touches drawn hollow.

import { chartRoot, clip, s, ROLE_COLORS } from "../svg.js";

const CHAR_PX = 6.4;

/**
 * spec: { title, description, conversionLabel,
 *         steps: [{ label, detail, time, top, role, weight|null, excluded, tip, elapsed }] }
 * `top` is written above the node (the weight, or "excluded"); `elapsed` is the time from the
 * step to the next one (or to the conversion), written on the line between them.
 */
export function pathTimeline(container, spec) {
  const width = Math.max(360, container.clientWidth || 720);
  const height = 168;
  const n = spec.steps.length + 1; // the conversion is the last node
  const margin = 84;
  const step = n > 1 ? (width - 2 * margin) / (n - 1) : 0;
  const x = (i) => (n > 1 ? margin + i * step : width / 2);
  const cy = 64;
  const chars = Math.max(8, Math.floor(Math.min(step || width, 2 * margin) / CHAR_PX) - 1);

  const root = chartRoot(width, height, spec.title, spec.description);
  root.append(s("line", { class: "path-line", x1: x(0), x2: x(n - 1), y1: cy, y2: cy }));
  const labels = (i, lines) =>
    lines.map(([cls, text], k) =>
      s("text", { class: cls, x: x(i), y: cy + 36 + k * 16, "text-anchor": "middle" }, clip(text, chars)),
    );
  let points = 0;
  spec.steps.forEach((item, i) => {
    const color = item.excluded ? "#9aa5b1" : ROLE_COLORS[item.role] || "#4e79a7";
    const r = item.excluded ? 7 : 7 + 9 * Math.sqrt(Math.max(0, item.weight || 0));
    const node = s("g", { class: item.excluded ? "path-step excluded" : "path-step", "data-role": item.role || "" });
    if (item.elapsed) {
      node.append(s("text", { class: "elapsed", x: (x(i) + x(i + 1)) / 2, y: cy - 8, "text-anchor": "middle" }, item.elapsed));
    }
    node.append(
      s("circle", {
        class: item.excluded ? "datum hollow" : "datum",
        cx: x(i),
        cy,
        r,
        fill: item.excluded ? "#ffffff" : color,
        stroke: color,
        tabindex: 0,
        "data-tip": item.tip,
        "aria-label": item.tip,
      }),
    );
    node.append(s("text", { class: "weight", x: x(i), y: cy - r - 8, "text-anchor": "middle" }, item.top || ""));
    node.append(
      ...labels(i, [
        ["step-label", item.label],
        ["step-sublabel", item.detail],
        ["step-sublabel", item.time],
      ]),
    );
    root.append(node);
    points += 1;
  });
  const cx = x(n - 1);
  root.append(
    s("g", { class: "path-conversion" }, [
      s("rect", { x: cx - 9, y: cy - 9, width: 18, height: 18, transform: `rotate(45 ${cx} ${cy})`, class: "conversion-mark" }),
      ...labels(n - 1, [
        ["step-label", "conversion"],
        ["step-sublabel", spec.conversionDetail || ""],
        ["step-sublabel", spec.conversionLabel],
      ]),
    ]),
  );
  container.replaceChildren(root);
  return points;
}
