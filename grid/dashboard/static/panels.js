// The node and grid panels, and the controls of a node's model.

import { act } from "./operator.js";
import { dashboardUrl, el, fill, fmtCarbon, fmtKw, fmtPercent, fmtPrice, isNum, setFigure } from "./util.js";

const $ = (id) => document.getElementById(id);

const SOURCES = { own: "its own production", battery: "its battery", market: "the grid (market)" };

function showRow(root, field, shown) {
  const row = root.querySelector(`[data-field="${field}"]`)?.parentElement;
  if (row) row.hidden = !shown;
}

/** This node: kind, power, where it comes from, battery, siblings. `row` is its own /grid row. */
export function renderNode(state, row) {
  const root = $("node-panel");
  const model = state.model || {};
  document.title = `${state.name} · Grid node ${state.id}`;
  $("title-name").textContent = state.name || "Grid node";
  $("title-id").textContent = `id ${state.id} · ${state.address}`;
  setFigure(root, "kind", model.kind || state.kind || "manual", model.kind || state.kind);
  setFigure(root, "production", fmtKw(state.production), state.production);
  setFigure(root, "consumption", fmtKw(state.consumption), state.consumption);
  setFigure(root, "net", fmtKw(state.net), state.net);
  const source = row?.source ?? model.source ?? null; // the row is re-read on every change
  setFigure(root, "source", source ? SOURCES[source] || source : "–", source);
  showRow(root, "source", Boolean(source));
  const battery = model.battery || null;
  const soc = row?.battery_soc ?? battery?.soc ?? model.battery_soc ?? null;
  const capacity = isNum(battery?.capacity_kwh) ? ` of ${battery.capacity_kwh} kWh` : "";
  setFigure(root, "battery", isNum(soc) ? `${fmtPercent(soc)}${capacity}` : "–", soc);
  showRow(root, "battery", isNum(soc));
  renderSiblings(state);
}

function renderSiblings(state) {
  const list = $("siblings");
  const items = (state.siblings || []).map((s) => {
    const url = dashboardUrl(s.address);
    const link = state.links?.[s.address]?.status;
    const name = url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, s.name || s.id) : s.name || s.id;
    const detail = ` id ${s.id} · ${s.address}${link ? ` · ${link}` : ""}`;
    return el("li", { "data-sibling": s.id }, name, el("span", { class: "muted" }, detail));
  });
  fill(list, items.length ? items : [el("li", { class: "muted" }, "none yet")]);
}

/** Share of live nodes that computed the price from the same view, when rows say which view. */
export function agreement(state, grid) {
  const live = (grid?.nodes || []).filter((r) => r.status === "alive");
  const mine = state.price_digest || state.view_digest;
  const digestOf = (r) => r.price_digest ?? r.view_digest;
  if (!live.length || !live.every((r) => typeof digestOf(r) === "string")) return null;
  const same = live.filter((r) => digestOf(r) === mine).length;
  return { same, of: live.length, share: same / live.length };
}

/** The grid as this node sees it: net, price, carbon, nodes, agreement. */
export function renderGrid(state, grid) {
  const root = $("grid-panel");
  setFigure(root, "gridnet", fmtKw(state.gridnet), state.gridnet);
  setFigure(root, "price", fmtPrice(state.price), state.price);
  setFigure(root, "carbon", fmtCarbon(state.carbon_intensity), state.carbon_intensity);
  setFigure(root, "live", `${state.nodes_live}`, state.nodes_live);
  const left = state.nodes_left ? ` (and ${state.nodes_left} left)` : "";
  setFigure(root, "stale", `${state.nodes_stale}${left}`, state.nodes_stale);
  const share = agreement(state, grid);
  const digest = state.price_digest || state.view_digest || "";
  if (share) {
    setFigure(root, "agreement", `${fmtPercent(share.share)} of live nodes (${share.same} of ${share.of})`, share.share);
  } else {
    setFigure(root, "agreement", `view ${digest.slice(0, 8)}`, digest);
    const node = root.querySelector('[data-field="agreement"]');
    node.title = "Nodes whose price comes from the same view show the same digest on their own dashboards.";
  }
}

// ------------------------------------------------------------------ controls

const FIELDS = {
  status: { label: "Plant", type: "select", options: ["on", "off"] },
  ratio: { label: "Output ratio (0–1)", type: "number", min: 0, max: 1, step: 0.05 },
  auto: { label: "Follow the grid", type: "checkbox" },
  buyBelow: { label: "Charge at or below, EUR/MWh", type: "number", step: 1 },
  sellAbove: { label: "Sell at or above, EUR/MWh", type: "number", step: 1 },
  reserve: { label: "Reserve for the home (0–1)", type: "number", min: 0, max: 1, step: 0.05 },
};

let controlKeys = "";
let dirty = false;

/** The model's controls (plant status and ratio, battery policy), shown only when the node has some. */
export function renderControls(state, refresh) {
  const controls = state.model?.controls;
  const panel = $("control-panel");
  panel.hidden = !controls;
  if (!controls) return;
  const form = $("control-form");
  const keys = Object.keys(controls).filter((k) => k in FIELDS).join(",");
  if (keys !== controlKeys) {
    controlKeys = keys;
    dirty = false;
    fill(form, buildControls(controls), el("button", { type: "submit" }, "Apply"));
    form.oninput = () => (dirty = true);
    form.onsubmit = (event) => {
      event.preventDefault();
      submitControls(form, controls, refresh);
    };
  }
  if (!dirty) setControlValues(form, controls);
}

function buildControls(controls) {
  return Object.keys(controls).filter((k) => k in FIELDS).map((key) => {
    const f = FIELDS[key];
    const id = `control-${key}`;
    let input;
    if (f.type === "select") input = el("select", { id, name: key }, f.options.map((o) => el("option", { value: o }, o)));
    else input = el("input", { id, name: key, type: f.type, min: f.min, max: f.max, step: f.step });
    return el("div", { class: "field" }, el("label", { for: id }, f.label), input);
  });
}

function setControlValues(form, controls) {
  for (const [key, value] of Object.entries(controls)) {
    const input = form.elements.namedItem(key);
    if (!input) continue;
    if (input.type === "checkbox") input.checked = Boolean(value);
    else input.value = value === null || value === undefined ? "" : String(value);
  }
}

async function submitControls(form, current, refresh) {
  const msg = {};
  for (const key of Object.keys(current)) {
    const input = form.elements.namedItem(key);
    if (!input) continue;
    const value = input.type === "checkbox" ? input.checked : input.type === "number" ? Number(input.value) : input.value;
    if (input.type === "number" && (input.value === "" || !Number.isFinite(value))) continue;
    if (value !== current[key]) msg[key] = value;
  }
  if (!Object.keys(msg).length) return;
  const answer = await act("Control", msg);
  if (answer && answer.status < 300) {
    dirty = false;
    refresh();
  }
}
