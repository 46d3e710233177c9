// Hand-written SVG charts: a step line over the last hour, and 24 hourly bars.
// Drawn at the container's pixel width so text keeps its size on a phone.

import { fill, svg } from "./util.js";

const HEIGHT = 150;
const PAD = { left: 48, right: 10, top: 10, bottom: 22 };

/** The pixel width to draw at; 0 while the container is not laid out (hidden): draw nothing then. */
function widthOf(container) {
  const width = Math.floor(container.clientWidth);
  return width > 0 ? Math.max(240, width) : 0;
}

/** Tick labels: plain numbers (the caption names the unit), as precise as the range needs. */
function tickFormat(lo, hi) {
  const span = Math.abs(hi - lo);
  const digits = span < 0.1 ? 3 : span < 10 ? 2 : span < 100 ? 1 : 0;
  const format = new Intl.NumberFormat("en", { maximumFractionDigits: digits });
  return (v) => format.format(Math.abs(v) < 1e-9 ? 0 : v);
}

/** A "nice" value range covering [lo, hi] (and zero when it is near). */
function range(lo, hi) {
  if (lo === hi) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

const MIN_SPAN_MS = 60_000;

function ago(ms) {
  return ms >= 120_000 ? `−${Math.round(ms / 60_000)} min` : `−${Math.round(ms / 1000)} s`;
}

/**
 * A step line of `points` ({t, v}) up to `now`, over the last `spanMs` at
 * most: a page open for less than that shows the time it has seen.
 * The last value holds until now: a value stands until the next one arrives.
 */
export function stepChart(container, points, { now, spanMs, format, label }) {
  const width = widthOf(container);
  if (!width) return;
  const seen = points.length ? now - points[0].t : 0;
  const span = Math.min(spanMs, Math.max(MIN_SPAN_MS, seen));
  const from = now - span;
  const shown = points.filter((p) => p.t >= from);
  const before = points.filter((p) => p.t < from).at(-1); // the value that held at the left edge
  if (before) shown.unshift({ t: from, v: before.v });
  const values = shown.map((p) => p.v);
  const latest = values.at(-1);
  const root = svg("svg", {
    width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: "img",
    "aria-label": `${label}: ${latest === undefined ? "no data yet" : `now ${format(latest)}`}`,
  });
  const x0 = PAD.left;
  const x1 = width - PAD.right;
  const y0 = PAD.top;
  const y1 = HEIGHT - PAD.bottom;
  const [lo, hi] = values.length ? range(Math.min(...values), Math.max(...values)) : [0, 1];
  const x = (t) => x0 + ((t - from) / span) * (x1 - x0);
  const y = (v) => y1 - ((v - lo) / (hi - lo)) * (y1 - y0);
  const tick = tickFormat(lo, hi);

  root.append(svg("rect", { class: "plot", x: x0, y: y0, width: x1 - x0, height: y1 - y0 }));
  for (const v of [hi, (hi + lo) / 2, lo]) {
    root.append(svg("line", { class: "grid-line", x1: x0, x2: x1, y1: y(v), y2: y(v) }));
    root.append(svg("text", { class: "tick", x: x0 - 6, y: y(v) + 4, "text-anchor": "end" }, tick(v)));
  }
  if (lo < 0 && hi > 0) root.append(svg("line", { class: "zero", x1: x0, x2: x1, y1: y(0), y2: y(0) }));
  for (const [back, anchor] of [[span, "start"], [span / 2, "middle"], [0, "end"]]) {
    const text = back ? ago(back) : "now";
    root.append(svg("text", { class: "tick", x: x(now - back), y: HEIGHT - 6, "text-anchor": anchor }, text));
  }
  if (shown.length) {
    const path = [];
    shown.forEach((p, i) => {
      if (i === 0) path.push(`M${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
      else path.push(`H${x(p.t).toFixed(1)}`, `V${y(p.v).toFixed(1)}`);
    });
    path.push(`H${x(now).toFixed(1)}`);
    root.append(svg("path", { class: "series", d: path.join("") }));
    root.append(svg("circle", { class: "last", cx: x(now), cy: y(latest), r: 3 }));
  } else {
    root.append(svg("text", { class: "empty", x: (x0 + x1) / 2, y: (y0 + y1) / 2, "text-anchor": "middle" },
      "waiting for data"));
  }
  fill(container, root);
}

/**
 * 24 bars of a day's hourly energy; hours over the device maximum stand out,
 * and the maximum is drawn as a dashed line.
 */
export function hourBars(container, hours, { maxKwh, format, label }) {
  const width = widthOf(container);
  if (!width) return;
  const values = hours.map((h) => h.kwh);
  const top = Math.max(maxKwh || 0, ...values, 0.001) * 1.1;
  const x0 = PAD.left;
  const x1 = width - PAD.right;
  const y0 = PAD.top;
  const y1 = HEIGHT - PAD.bottom;
  const slot = (x1 - x0) / 24;
  const y = (v) => y1 - (v / top) * (y1 - y0);
  const root = svg("svg", { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: "img", "aria-label": label });
  root.append(svg("rect", { class: "plot", x: x0, y: y0, width: x1 - x0, height: y1 - y0 }));
  const tick = tickFormat(0, top);
  for (const v of [top, top / 2, 0]) {
    root.append(svg("line", { class: "grid-line", x1: x0, x2: x1, y1: y(v), y2: y(v) }));
    root.append(svg("text", { class: "tick", x: x0 - 6, y: y(v) + 4, "text-anchor": "end" }, tick(v)));
  }
  hours.forEach((h, i) => {
    const hour = h.hour ?? i;
    const bar = svg("rect", {
      class: h.exceeded ? "bar exceeded" : "bar", x: x0 + i * slot + slot * 0.15, y: y(h.kwh),
      width: slot * 0.7, height: Math.max(0, y1 - y(h.kwh)), "data-hour": hour, "data-kwh": h.kwh,
    });
    const over = h.exceeded ? " (over the maximum)" : "";
    bar.append(svg("title", {}, `${String(hour).padStart(2, "0")}:00 ${format(h.kwh)}${over}`));
    root.append(bar);
    if (hour % 3 === 0) {
      root.append(svg("text", { class: "tick", x: x0 + (i + 0.5) * slot, y: HEIGHT - 6, "text-anchor": "middle" },
        `${String(hour).padStart(2, "0")}h`));
    }
  });
  if (maxKwh) root.append(svg("line", { class: "limit", x1: x0, x2: x1, y1: y(maxKwh), y2: y(maxKwh) }));
  fill(container, root);
}
