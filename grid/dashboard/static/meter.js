// Metering: the hourly consumption bars of a chosen day, and the alerts
// (stored ones from /meter/alerts, new ones from the event stream).

import { absent, getJson } from "./api.js";
import { hourBars } from "./charts.js";
import { el, fill, fmtKwh, fmtTime, today } from "./util.js";

const $ = (id) => document.getElementById(id);
const WHOLE_NODE = "";
const MAX_ALERTS = 50;

/** The hourly bars; hidden while the node runs no metering. */
export class MeterPanel {
  constructor(onPresent) {
    this.onPresent = onPresent;
    this.present = null;
    this.devices = "";
    $("meter-day").value = today();
    $("meter-form").addEventListener("submit", (event) => event.preventDefault());
    $("meter-form").addEventListener("change", () => this.load());
  }

  async load() {
    const day = $("meter-day").value || today();
    const { status, body } = await getJson(`/meter?day=${encodeURIComponent(day)}`);
    if (absent(status)) {
      this.present = false;
      $("meter-panel").hidden = true;
      return;
    }
    if (status !== 200 || !body) return;
    if (!this.present) this.onPresent();
    this.present = true;
    $("meter-panel").hidden = false;
    this.fillDevices(body.devices || []);
    const device = $("meter-device").value;
    if (device === WHOLE_NODE) {
      const hours = (body.node?.hours_kwh || []).map((kwh, hour) => ({ hour, kwh, exceeded: false }));
      this.draw(hours, null, body.node?.day_kwh, [], body);
      return;
    }
    const answer = await getJson(`/meter/${encodeURIComponent(device)}/hourly?day=${encodeURIComponent(day)}`);
    if (answer.status !== 200 || !answer.body) return;
    const h = answer.body;
    this.draw(h.hours || [], h.max_kwh, h.total_kwh, h.exceeded_hours || [], h);
  }

  fillDevices(devices) {
    const ids = devices.map((d) => d.id).join("\u0000");
    if (ids === this.devices) return;
    const select = $("meter-device");
    // Keep the operator's choice when the device list changes; at first, show the first device.
    const chosen = this.devices === "" ? devices[0]?.id ?? WHOLE_NODE : select.value;
    this.devices = ids;
    fill(select, el("option", { value: WHOLE_NODE }, "whole node"),
      devices.map((d) => el("option", { value: d.id }, d.description ? `${d.id} (${d.description})` : d.id)));
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : WHOLE_NODE;
  }

  draw(hours, maxKwh, totalKwh, exceeded, body) {
    const what = $("meter-device").value || "the whole node";
    const label = `Hourly consumption of ${what} on ${body.day} (${body.timezone})`;
    hourBars($("meter-chart"), hours, { maxKwh, format: fmtKwh, label });
    const hoursOver = exceeded.map((h) => `${h}h`).join(", ");
    const over = exceeded.length ? `; over the maximum of ${fmtKwh(maxKwh)} at ${hoursOver}` : "";
    $("meter-summary").textContent = `Total ${fmtKwh(totalKwh)} on ${body.day} (${body.timezone})${over}.`;
  }
}

/** Alerts of this node's meters, newest first. */
export class AlertsPanel {
  constructor() {
    this.alerts = new Map();
  }

  async load() {
    const { status, body } = await getJson("/meter/alerts");
    if (status !== 200 || !body) return;
    for (const a of body.alerts || []) this.add({ ...a, alert: a.kind, total_kwh: a.total_wh / 1000 });
    this.render();
  }

  /** An "alert" event from the stream. */
  onEvent(data) {
    this.add(data);
    this.render();
  }

  add(a) {
    const key = `${a.alert}/${a.device_id}/${a.hour_start_ms}`;
    this.alerts.set(key, { key, kind: a.alert, device: a.device_id, hour: a.hour_start_ms, at: a.at_ms, message: a.message });
  }

  render() {
    const panel = $("alerts-panel");
    panel.hidden = false;
    const sorted = [...this.alerts.values()].sort((a, b) => (b.at || 0) - (a.at || 0)).slice(0, MAX_ALERTS);
    fill($("alerts"), sorted.map((a) => el("li", { class: `alert ${a.kind}`, "data-alert": a.key },
      el("strong", {}, capitalised(a.kind || "alert")),
      ` ${a.device} · hour from ${fmtTime(a.hour)}`,
      el("div", {}, a.message || ""))));
    $("alerts-empty").hidden = sorted.length > 0;
  }
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
