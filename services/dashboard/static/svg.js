// Tiny SVG toolkit: element builder, scales, "nice" ticks, axes, colours and a tooltip.

const SVG_NS = "http://www.w3.org/2000/svg";
let idCounter = 0;

export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** Create an SVG element with attributes (null/undefined skipped) and children. */
export function s(tag, attrs = {}, children = []) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** Create an HTML element; `text` sets textContent, other attrs are attributes. */
export function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "className") node.className = value;
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** The root <svg>: an image with a title and a description for screen readers. */
export function chartRoot(width, height, title, description) {
  const titleId = uid("chart-title");
  const descId = uid("chart-desc");
  return s(
    "svg",
    {
      class: "chart-svg",
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
    },
    [s("title", { id: titleId }, title), s("desc", { id: descId }, description)],
  );
}

export function linear(domainMin, domainMax, rangeMin, rangeMax) {
  const span = domainMax - domainMin || 1;
  const scale = (v) => rangeMin + ((v - domainMin) / span) * (rangeMax - rangeMin);
  return scale;
}

/** Round tick values from at most `min` to at least `max`: steps of 1, 2, 2.5 or 5 times a
 * power of ten. */
export function niceTicks(min, max, count = 5) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) {
    if (max === 0) return [0, 1];
    min = Math.min(0, min);
    max = Math.max(0, max);
  }
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((c) => c >= raw) || raw;
  const first = Math.floor(min / step);
  const last = Math.ceil(max / step);
  const ticks = [];
  for (let i = first; i <= last; i += 1) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** Evenly spaced bands (bars, rows) over [start, end] with a padding share between them. */
export function bands(count, start, end, padding = 0.2) {
  const step = (end - start) / Math.max(1, count);
  const size = step * (1 - padding);
  return { step, size, at: (i) => start + i * step + (step - size) / 2 };
}

/** Horizontal grid lines and labels of a value axis on the left. */
export function yAxis(ticks, y, left, right, format) {
  return s(
    "g",
    { class: "axis axis-y" },
    ticks.map((t) =>
      s("g", { class: "tick" }, [
        s("line", { x1: left, x2: right, y1: y(t), y2: y(t) }),
        s("text", { x: left - 8, y: y(t), dy: "0.32em", "text-anchor": "end" }, format(t)),
      ]),
    ),
  );
}

/** Vertical grid lines and labels of a value axis at the bottom. */
export function xAxis(ticks, x, top, bottom, format) {
  return s(
    "g",
    { class: "axis axis-x" },
    ticks.map((t) =>
      s("g", { class: "tick" }, [
        s("line", { x1: x(t), x2: x(t), y1: top, y2: bottom }),
        s("text", { x: x(t), y: bottom + 16, "text-anchor": "middle" }, format(t)),
      ]),
    ),
  );
}

/** Cut a label to about `max` characters. */
export function clip(text, max) {
  const value = String(text);
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
}

// Tableau 10: distinct, readable on white, and friendly to the common colour-vision deficiencies
// when paired with the legend and tables.
export const PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

export const ROLE_COLORS = { introducer: "#4e79a7", influencer: "#edc948", closer: "#59a14f" };

export function colorAt(i) {
  return PALETTE[i % PALETTE.length];
}

/** Sequential colour for t in [0, 1]: from near-white to deep blue. */
export function sequential(t) {
  const clamp = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  const from = [239, 244, 251];
  const to = [29, 78, 216];
  const mix = from.map((c, i) => Math.round(c + (to[i] - c) * clamp ** 0.8));
  return `rgb(${mix[0]}, ${mix[1]}, ${mix[2]})`;
}

/** One floating tooltip for the page: any element with `data-tip` shows it on hover/focus. */
export function installTooltip() {
  const tip = h("div", { className: "tooltip", role: "tooltip", hidden: true });
  document.body.append(tip);
  const show = (target, x, y) => {
    tip.textContent = target.getAttribute("data-tip");
    tip.hidden = false;
    const box = tip.getBoundingClientRect();
    const left = Math.min(window.innerWidth - box.width - 8, x + 12);
    const top = y - box.height - 12 < 0 ? y + 16 : y - box.height - 12;
    tip.style.left = `${Math.max(8, left) + window.scrollX}px`;
    tip.style.top = `${top + window.scrollY}px`;
  };
  const hide = () => {
    tip.hidden = true;
  };
  document.addEventListener("pointermove", (event) => {
    const target = event.target instanceof Element ? event.target.closest("[data-tip]") : null;
    if (target) show(target, event.clientX, event.clientY);
    else hide();
  });
  document.addEventListener("focusin", (event) => {
    const target = event.target instanceof Element ? event.target.closest("[data-tip]") : null;
    if (!target) return hide();
    const box = target.getBoundingClientRect();
    return show(target, box.left + box.width / 2, box.top);
  });
  document.addEventListener("focusout", hide);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") hide();
  });
}

/** An HTML legend: coloured swatches with labels. */
export function legend(items) {
  return h(
    "ul",
    { className: "legend", "aria-label": "Legend" },
    items.map(({ label, color }) => {
      const swatch = h("span", { className: "swatch", "aria-hidden": "true" });
      swatch.style.background = color;
      return h("li", {}, [swatch, label]);
    }),
  );
}
