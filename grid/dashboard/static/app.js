// The dashboard of one node: what it believes, live.
//
// /state and /grid are read at start and whenever the event stream says the
// node's beliefs changed ("state" events carry the /state body; /grid is
// re-read at most twice a second). Dispatch and metering panels appear only
// where the node runs those features. Charts are kept here, in the page.

import { getJson, keepLive, token } from "./api.js";
import { stepChart } from "./charts.js";
import { ChatPanel } from "./chat.js";
import { DispatchPanel } from "./dispatch.js";
import { GridMap } from "./map.js";
import { AlertsPanel, MeterPanel } from "./meter.js";
import { askToken, setupOperator } from "./operator.js";
import { renderControls, renderGrid, renderNode } from "./panels.js";
import { fmtKw, fmtPrice, throttle } from "./util.js";

const $ = (id) => document.getElementById(id);

const SPAN_MS = 3_600_000; // the charts show the last hour
const SAMPLE_MS = 1_000; // news within a second of the last sample replaces it (bursts, replays)
const STATE_EVERY_MS = 5_000; // full /state re-read: feature blocks are not in "state" events

const S = { state: null, grid: null, samples: [] };
const map = new GridMap($("map"), $("map-tip"), $("islands"));
const dispatches = new DispatchPanel();
const alerts = new AlertsPanel();
const meter = new MeterPanel(() => alerts.load());
const chat = new ChatPanel(() => S.grid?.nodes);

class Unauthorized extends Error {}

async function read(path) {
  const { status, body } = await getJson(path);
  if (status === 401) throw new Unauthorized(path);
  if (status !== 200 || !body) throw new Error(`${path}: ${status}`);
  return body;
}

function ownRow() {
  return S.grid?.nodes?.find((r) => r.id === S.state?.id) || null;
}

/**
 * New /state: whole (`via` "read"), or from a "state" event (`via` "event"),
 * which lacks the feature blocks. body[data-via] tells how the figures on
 * screen were learnt (tests check that live news comes by the stream).
 */
function applyState(state, via) {
  S.state = { ...(S.state || {}), ...state };
  document.body.dataset.via = via;
  renderNode(S.state, ownRow());
  renderGrid(S.state, S.grid);
  renderControls(S.state, refreshState);
  addSample(S.state);
  document.body.dataset.ready = "true";
}

function addSample(state) {
  const now = Date.now();
  const sample = { t: now, gridnet: state.gridnet, price: state.price, net: state.net };
  const last = S.samples.at(-1);
  if (last && now - last.t < SAMPLE_MS) S.samples[S.samples.length - 1] = { ...sample, t: last.t };
  else S.samples.push(sample);
  while (S.samples.length > 2 && S.samples[1].t < now - SPAN_MS) S.samples.shift();
  chartsSoon();
}

function drawCharts() {
  const now = Date.now();
  const series = (key) => S.samples.filter((s) => typeof s[key] === "number").map((s) => ({ t: s.t, v: s[key] }));
  stepChart($("chart-gridnet"), series("gridnet"), { now, spanMs: SPAN_MS, format: fmtKw, label: "Grid net" });
  stepChart($("chart-price"), series("price"), { now, spanMs: SPAN_MS, format: fmtPrice, label: "Price" });
  stepChart($("chart-net"), series("net"), { now, spanMs: SPAN_MS, format: fmtKw, label: "This node's net" });
}
const chartsSoon = throttle(drawCharts, 1_000);

async function refreshState() {
  applyState(await read("/state"), "read");
}

async function refreshGrid() {
  S.grid = await read("/grid");
  if (S.state) {
    renderNode(S.state, ownRow());
    renderGrid(S.state, S.grid);
  }
  map.update(S.grid, S.state?.id ?? S.grid.id);
}

const quietly = (fn) => () => fn().catch(onReadError);
const gridSoon = throttle(quietly(refreshGrid), 500);
const dispatchSoon = throttle(quietly(() => dispatches.load(S.state?.id)), 500);
const meterSoon = throttle(quietly(() => meter.load()), 2_000);

let asking = false;
async function onReadError(err) {
  if (!(err instanceof Unauthorized) || asking) return;
  asking = true;
  token.clear();
  const given = await askToken("This node keeps its readings private: a token is needed to read them.");
  asking = false;
  if (given) reloadAll();
}

/** Panels of features: loaded where /state shows the feature's block, hidden elsewhere. */
async function loadFeatures() {
  const has = (name) => Boolean(S.state && name in S.state);
  $("dispatch-panel").hidden ||= !has("dispatch");
  $("meter-panel").hidden ||= !has("metering");
  await Promise.all([
    has("dispatch") ? dispatches.load(S.state.id) : null,
    has("metering") ? meter.load() : null,
    has("chat") ? chat.load() : null,
  ]);
}

/** Read everything again (start, stream reconnected, token given, polling). */
async function reloadAll() {
  try {
    await refreshState();
    await refreshGrid();
    await loadFeatures();
  } catch (err) {
    onReadError(err);
    throw err;
  }
}

function onEvent(kind, data) {
  if (kind === "state") {
    applyState(data, "event");
    gridSoon();
  } else if (kind === "dispatch") {
    dispatchSoon();
  } else if (kind === "alert") {
    alerts.onEvent(data);
  } else if (kind === "meter") {
    meterSoon();
  } else if (kind.startsWith("chat")) {
    chat.onEvent(kind, data);
  }
}

const MODES = {
  live: "live (event stream)",
  polling: "polling every 2 s",
  offline: "node unreachable",
  connecting: "connecting",
};

function start() {
  setupOperator(() => reloadAll().catch(() => {}));
  keepLive({
    kinds: ["state", "dispatch", "alert", "meter", "chat", "chat_receipt", "chat_typing"],
    onEvent,
    onOpen: () => reloadAll().catch(() => {}),
    poll: reloadAll,
    onMode: (mode) => {
      $("conn").dataset.mode = mode;
      $("conn").textContent = MODES[mode] || mode;
    },
    onUnauthorized: () => onReadError(new Unauthorized("/events")),
  });
  setInterval(() => {
    quietly(refreshState)();
    if (dispatches.present) dispatchSoon(); // phases move with the clock
  }, STATE_EVERY_MS);
  setInterval(drawCharts, 5_000); // the time axis moves even when nothing changes
  const redraw = throttle(() => {
    if (S.grid) map.update(S.grid, S.state?.id);
    drawCharts();
    if (meter.present) meterSoon();
  }, 300);
  window.addEventListener("resize", redraw);
}

start();
