// Dispatches the node knows, who answered them, and an Acknowledge button for
// the ones addressed to this node (sent with the operator token).

import { absent, getJson } from "./api.js";
import { act, notify } from "./operator.js";
import { el, fill, fmtKw, fmtTime } from "./util.js";

const $ = (id) => document.getElementById(id);

const MAX_DETAILS = 20; // this node's own answer is fetched for at most this many open dispatches
const OPEN = new Set(["scheduled", "active"]);
const ANSWERED = { acknowledged: "acknowledged", opted_out: "opted out", pending: "not answered yet" };

/** Loads /dispatches and keeps the panel (hidden while the node runs no dispatch feature). */
export class DispatchPanel {
  constructor() {
    this.me = null;
    this.present = null; // unknown until the first answer
  }

  async load(me) {
    this.me = me;
    const seq = (this.seq = (this.seq || 0) + 1); // a slower, older read must not overwrite a newer one
    const { status, body } = await getJson("/dispatches");
    if (absent(status)) {
      this.present = false;
      $("dispatch-panel").hidden = true;
      return;
    }
    if (status !== 200 || !body) return; // busy or private: keep what is shown
    this.present = true;
    $("dispatch-panel").hidden = false;
    const rows = body.dispatches || [];
    const own = await this.ownAnswers(rows);
    if (seq !== this.seq) return;
    const shown = JSON.stringify([rows, [...own]]);
    if (shown === this.shown) return; // unchanged: keep the DOM, and the keyboard focus in it
    this.shown = shown;
    const focused = document.activeElement?.dataset?.ack;
    const tbody = $("dispatch-table").tBodies[0];
    fill(tbody, rows.map((d) => this.row(d, own.get(d.dispatchId))));
    if (focused) tbody.querySelector(`[data-ack="${CSS.escape(focused)}"]`)?.focus();
    $("dispatch-empty").hidden = rows.length > 0;
  }

  async ownAnswers(rows) {
    const open = rows.filter((d) => d.addressed_here && OPEN.has(d.phase)).slice(0, MAX_DETAILS);
    const answers = new Map();
    await Promise.all(open.map(async (d) => {
      const { status, body } = await getJson(`/dispatches/${encodeURIComponent(d.dispatchId)}`);
      if (status === 200 && body) answers.set(d.dispatchId, body.targets_status?.[this.me] || "pending");
    }));
    return answers;
  }

  row(d, answer) {
    const answers = d.answers || {};
    const mod = d.modificationNumber ? ` · modification ${d.modificationNumber}` : "";
    return el("tr", { "data-dispatch-id": d.dispatchId, "data-phase": d.phase },
      el("td", {}, el("strong", {}, d.dispatchId), el("div", { class: "muted" }, `${d.programId} · ${d.eventType}${mod}`),
        d.message ? el("div", {}, d.message) : null),
      el("td", {}, `${fmtTime(d.startTime)} – ${d.endTime ? fmtTime(d.endTime) : "open"}`),
      el("td", {}, fmtKw(d.curtailmentKw)),
      el("td", {}, el("span", { class: `phase ${d.phase}` }, d.phase)),
      el("td", { "data-answers": "" },
        `${answers.acknowledged ?? 0} acknowledged · ${answers.opted_out ?? 0} opted out · `
        + `${answers.pending ?? 0} pending`),
      el("td", { "data-own": answer || "" }, this.ownCell(d, answer)));
  }

  ownCell(d, answer) {
    if (!d.addressed_here) return el("span", { class: "muted" }, "not addressed here");
    if (!answer) return el("span", { class: "muted" }, d.phase);
    const text = el("span", { class: `answer ${answer}` }, ANSWERED[answer] || answer);
    if (answer === "acknowledged") return text;
    const button = el("button", {
      type: "button", class: "ack", "data-ack": d.dispatchId,
      "aria-label": `Acknowledge dispatch ${d.dispatchId}`,
      onclick: () => this.acknowledge(d, button),
    }, "Acknowledge");
    return [text, " ", button];
  }

  async acknowledge(d, button) {
    button.disabled = true;
    const msg = { dispatchId: d.dispatchId, modificationNumber: d.modificationNumber || 0, nodeId: this.me, response: "ack" };
    const answer = await act("Acknowledge", msg);
    if (answer && answer.status < 300) notify(`Dispatch ${d.dispatchId} acknowledged.`);
    button.disabled = false;
    await this.load(this.me);
  }
}
