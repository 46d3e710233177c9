// The map: every node of this node's view and every link its entries name,
// placed by a small force layout (Fruchterman-Reingold), coloured by net,
// stale nodes greyed, islands outlined when the view splits.

import { dashboardUrl, el, fill, fmtKw, fmtPercent, svg } from "./util.js";

const HEIGHT = 380;
const PAD = 34;
const LABELS_UP_TO = 60; // beyond this many nodes names only show on hover
const STRETCH = 2.4; // how much wider than tall (or taller than wide) the layout may be drawn

/** A stable number in [0, 1) from a string (FNV-1a), so layouts do not jump between loads. */
function unit(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

/** Nodes and undirected links of a /grid body. */
export function topology(grid) {
  const rows = grid.nodes || [];
  const ids = new Set(rows.map((r) => r.id));
  const links = new Map();
  for (const row of rows) {
    for (const other of row.siblings || []) {
      if (!ids.has(other) || other === row.id) continue;
      const [a, b] = row.id < other ? [row.id, other] : [other, row.id];
      links.set(`${a}\u0000${b}`, [a, b]);
    }
  }
  return { rows, links: [...links.values()] };
}

/** Connected groups of nodes, where a link joins two nodes only if both are live or both are not. */
export function islands(rows, links) {
  const parent = new Map(rows.filter((r) => r.status !== "left").map((r) => [r.id, r.id]));
  const find = (id) => {
    while (parent.get(id) !== id) {
      parent.set(id, parent.get(parent.get(id)));
      id = parent.get(id);
    }
    return id;
  };
  const live = new Map(rows.map((r) => [r.id, r.status === "alive"]));
  for (const [a, b] of links) {
    if (parent.has(a) && parent.has(b) && live.get(a) === live.get(b)) parent.set(find(a), find(b));
  }
  const groups = new Map();
  for (const id of parent.keys()) {
    const root = find(id);
    if (!groups.has(root)) groups.set(root, []);
    groups.get(root).push(id);
  }
  return [...groups.values()].map((ids) => ({ ids, live: live.get(ids[0]) }));
}

/** Fruchterman-Reingold in the unit square, starting from `pos` (kept across updates). */
function layout(pos, rows, links, iterations, heat) {
  const ids = rows.map((r) => r.id);
  const neighbours = new Map(ids.map((id) => [id, []]));
  for (const [a, b] of links) {
    neighbours.get(a).push(b);
    neighbours.get(b).push(a);
  }
  for (const id of ids) {
    if (pos.has(id)) continue;
    const near = neighbours.get(id).find((n) => pos.has(n));
    const angle = unit(id) * 2 * Math.PI;
    if (near) {
      const p = pos.get(near);
      pos.set(id, { x: p.x + 0.08 * Math.cos(angle), y: p.y + 0.08 * Math.sin(angle) });
    } else {
      pos.set(id, { x: 0.5 + 0.35 * Math.cos(angle), y: 0.5 + 0.35 * Math.sin(angle) });
    }
  }
  for (const id of [...pos.keys()]) if (!neighbours.has(id)) pos.delete(id);
  const n = ids.length;
  if (n < 2) return;
  const k = Math.sqrt(1 / n);
  const steps = Math.max(10, Math.min(iterations, Math.floor(4e6 / (n * n))));
  for (let step = 0; step < steps; step += 1) {
    const temp = heat * (1 - step / steps) + 0.002;
    const move = new Map(ids.map((id) => [id, { x: 0, y: 0 }]));
    for (let i = 0; i < n; i += 1) {
      const p = pos.get(ids[i]);
      const m = move.get(ids[i]);
      for (let j = i + 1; j < n; j += 1) {
        const q = pos.get(ids[j]);
        let dx = p.x - q.x;
        let dy = p.y - q.y;
        let d = Math.hypot(dx, dy);
        if (d < 1e-6) {
          dx = unit(ids[i] + ids[j]) - 0.5; // apart in a stable direction
          dy = 0.5 - unit(ids[j] + ids[i]);
          d = Math.hypot(dx, dy) || 1;
        }
        const f = (k * k) / d;
        const o = move.get(ids[j]);
        m.x += (dx / d) * f;
        m.y += (dy / d) * f;
        o.x -= (dx / d) * f;
        o.y -= (dy / d) * f;
      }
      m.x += (0.5 - p.x) * 0.6 * k; // gravity: islands stay in the frame
      m.y += (0.5 - p.y) * 0.6 * k;
    }
    for (const [a, b] of links) {
      const p = pos.get(a);
      const q = pos.get(b);
      const dx = p.x - q.x;
      const dy = p.y - q.y;
      const d = Math.hypot(dx, dy) || 1e-6;
      const f = (d * d) / k;
      move.get(a).x -= (dx / d) * f;
      move.get(a).y -= (dy / d) * f;
      move.get(b).x += (dx / d) * f;
      move.get(b).y += (dy / d) * f;
    }
    for (const id of ids) {
      const m = move.get(id);
      const len = Math.hypot(m.x, m.y) || 1;
      const p = pos.get(id);
      p.x += (m.x / len) * Math.min(len, temp);
      p.y += (m.y / len) * Math.min(len, temp);
    }
  }
}

/** Fill colour of a node: green when it produces, orange when it consumes, grey when stale. */
function colour(row, scale) {
  if (row.status !== "alive") return "#b8bcc2";
  const net = row.net || 0;
  if (Math.abs(net) < 0.0005) return "#8fa3b8";
  const strength = Math.min(1, Math.abs(net) / (scale || 1));
  const light = 62 - strength * 26;
  return net > 0 ? `hsl(145 55% ${light}%)` : `hsl(22 85% ${light}%)`;
}

function describe(row) {
  return `${row.name || row.id}: ${row.status}, net ${fmtKw(row.net)}`;
}

/** Draws the map into `container`; `tip` is the tooltip element, `caption` the islands line. */
export class GridMap {
  constructor(container, tip, caption) {
    this.container = container;
    this.tip = tip;
    this.caption = caption;
    this.pos = new Map();
    this.shape = "";
    this.rows = new Map();
    this.hovered = null;
  }

  update(grid, selfId) {
    const { rows, links } = topology(grid);
    const shape = JSON.stringify([rows.map((r) => r.id), links]);
    if (shape !== this.shape) {
      const first = this.pos.size === 0;
      layout(this.pos, rows, links, first ? 400 : 120, first ? 0.1 : 0.03);
      this.shape = shape;
    }
    this.rows = new Map(rows.map((r) => [r.id, r]));
    this.render(rows, links, selfId);
  }

  render(rows, links, selfId) {
    const focused = document.activeElement?.closest?.("[data-node-id]")?.dataset.nodeId;
    const width = Math.max(240, Math.floor(this.container.clientWidth));
    if (!this.container.clientWidth) return; // not laid out (hidden): drawn at the next update
    const height = Math.min(HEIGHT, Math.max(260, Math.round(width * 0.62)));
    const xs = [...this.pos.values()].map((p) => p.x);
    const ys = [...this.pos.values()].map((p) => p.y);
    const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    // Fill the frame, but stretch one axis at most STRETCH times the other.
    let sx = (width - 2 * PAD) / Math.max(maxX - minX, 1e-9);
    let sy = (height - 2 * PAD - 10) / Math.max(maxY - minY, 1e-9);
    sx = Math.min(sx, sy * STRETCH);
    sy = Math.min(sy, sx * STRETCH);
    const ox = (width - sx * (maxX - minX)) / 2;
    const oy = (height - 10 - sy * (maxY - minY)) / 2;
    const px = (p) => ox + (p.x - minX) * sx;
    const py = (p) => oy + (p.y - minY) * sy;
    const at = (id) => ({ x: px(this.pos.get(id)), y: py(this.pos.get(id)) });
    const status = new Map(rows.map((r) => [r.id, r.status]));
    const groups = islands(rows, links);
    const scale = Math.max(0.001, ...rows.filter((r) => r.status === "alive").map((r) => Math.abs(r.net || 0)));

    const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "group",
      "aria-label": `Map: ${rows.length} nodes, ${links.length} links` });
    if (groups.length > 1) {
      for (const group of groups) {
        const pts = group.ids.map(at);
        const x0 = Math.min(...pts.map((p) => p.x)) - 20;
        const y0 = Math.min(...pts.map((p) => p.y)) - 20;
        const x1 = Math.max(...pts.map((p) => p.x)) + 20;
        const y1 = Math.max(...pts.map((p) => p.y)) + 30;
        root.append(svg("rect", { class: group.live ? "island" : "island stale", x: x0, y: y0,
          width: x1 - x0, height: y1 - y0, rx: 14 }));
      }
    }
    for (const [a, b] of links) {
      const up = status.get(a) === "alive" && status.get(b) === "alive";
      const p = at(a);
      const q = at(b);
      root.append(svg("line", { class: up ? "link" : "link down", x1: p.x, y1: p.y, x2: q.x, y2: q.y,
        "data-link": `${a}-${b}` }));
    }
    for (const row of rows) root.append(this.node(row, at(row.id), scale, row.id === selfId, rows.length));
    fill(this.container, root);
    const caption = islandText(groups, this.rows);
    if (this.caption.textContent !== caption) this.caption.textContent = caption; // a live region: only news
    if (focused) root.querySelector(`[data-node-id="${CSS.escape(focused)}"]`)?.focus();
    if (this.hovered && this.rows.has(this.hovered)) this.showTip(this.hovered);
  }

  node(row, p, scale, isSelf, count) {
    const url = dashboardUrl(row.address);
    const classes = ["node", row.status, isSelf ? "self" : ""].join(" ").trim();
    const attrs = { class: classes, "data-node-id": row.id, "data-status": row.status, "data-net": row.net,
      "aria-label": `${describe(row)}${url ? " (opens its dashboard)" : ""}` };
    const group = url
      ? svg("a", { ...attrs, href: url, target: "_blank", rel: "noopener noreferrer" })
      : svg("g", { ...attrs, tabindex: 0 });
    const r = 9 + Math.min(7, (Math.abs(row.net || 0) / scale) * 7);
    if (isSelf) group.append(svg("circle", { class: "self-ring", cx: p.x, cy: p.y, r: r + 5 }));
    const paint = row.status === "left" ? "none" : colour(row, scale);
    group.append(svg("circle", { class: "dot", cx: p.x, cy: p.y, r, fill: paint }));
    if (count <= LABELS_UP_TO) {
      group.append(svg("text", { class: "label", x: p.x, y: p.y + r + 13, "text-anchor": "middle" }, row.name || row.id));
    }
    const show = () => this.showTip(row.id, group);
    const hide = () => this.hideTip(row.id);
    group.addEventListener("pointerenter", show);
    group.addEventListener("focus", show);
    group.addEventListener("pointerleave", hide);
    group.addEventListener("blur", hide);
    return group;
  }

  showTip(id, target) {
    const row = this.rows.get(id);
    const anchor = target || this.container.querySelector(`[data-node-id="${CSS.escape(id)}"]`);
    if (!row || !anchor) return;
    this.hovered = id;
    const line = (term, value) => el("div", {}, el("dt", {}, term), el("dd", {}, value));
    fill(this.tip,
      el("strong", {}, `${row.name || row.id} `), el("span", { class: "muted" }, `id ${row.id}`),
      el("dl", {},
        line("status", row.status),
        line("kind", row.kind || "manual"),
        line("production", fmtKw(row.production)),
        line("consumption", fmtKw(row.consumption)),
        line("net", fmtKw(row.net)),
        row.source ? line("power from", row.source) : null,
        typeof row.battery_soc === "number" ? line("battery", fmtPercent(row.battery_soc)) : null,
        line("heard", `${Number(row.age_s || 0).toFixed(1)} s ago`),
      ));
    this.tip.hidden = false;
    const box = anchor.getBoundingClientRect();
    const frame = this.tip.offsetParent?.getBoundingClientRect() || { left: 0, top: 0, width: innerWidth };
    const left = Math.min(box.right - frame.left + 8, frame.width - this.tip.offsetWidth - 4);
    this.tip.style.left = `${Math.max(4, left)}px`;
    this.tip.style.top = `${box.top - frame.top}px`;
  }

  hideTip(id) {
    if (this.hovered !== id) return;
    this.hovered = null;
    this.tip.hidden = true;
  }
}

function islandText(groups, rows) {
  const names = (ids) => {
    const shown = ids.slice(0, 8).map((id) => rows.get(id)?.name || id);
    return shown.join(", ") + (ids.length > 8 ? ` and ${ids.length - 8} more` : "");
  };
  const live = groups.filter((g) => g.live);
  const stale = groups.filter((g) => !g.live);
  if (!stale.length && live.length <= 1) {
    const n = live[0]?.ids.length || 0;
    return `One island: all ${n} node${n === 1 ? "" : "s"} reachable.`;
  }
  const parts = live.map((g, i) => `island ${i + 1} (live): ${names(g.ids)}`);
  stale.forEach((g, i) => parts.push(`island ${live.length + i + 1} (not heard from): ${names(g.ids)}`));
  return `The view is split into ${groups.length} islands: ${parts.join("; ")}.`;
}
