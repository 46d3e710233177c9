// The chat panel: this node's support chat, live.
//
// Every node shows one. An operator whose token has the manager role (or
// anyone on an open node) sees every conversation with its unread count and
// serves several at once; other operators see one conversation: with the
// node's configured support node, else the latest one, else one they pick.
// Chats are read from /chats and /chats/{peer} (role owner); events only say
// that something happened ("chat", "chat_receipt", "chat_typing"), so the
// open event stream never carries what people wrote.

import { absent, getJson, tell } from "./api.js";
import { notify } from "./operator.js";
import { el, fill, fmtTime, throttle } from "./util.js";

const $ = (id) => document.getElementById(id);

const ROLES = ["viewer", "owner", "manager", "admin"];
const TYPING_EVERY_MS = 2_000; // "still typing" at most this often while keys are pressed
const TYPING_SHOWN_MS = 6_000; // the node's TYPING_SHOW_S: a signal not refreshed this long is over
const STATUS_MARK = { sent: "✓ sent", delivered: "✓✓ delivered", read: "✓✓ read" };

const rank = (role) => ROLES.indexOf(role);

/** The chat panel; `nodes()` gives the /grid rows (to start a conversation). */
export class ChatPanel {
  constructor(nodes) {
    this.nodes = nodes;
    this.present = null; // unknown until /chats answers
    this.role = null;
    this.peer = null;
    this.list = null;
    this.typingSent = 0; // when "typing" was last sent (0: not typing)
    this.typingTimer = null;
    this.built = false;
    this.listSoon = throttle(() => this.loadList().catch(() => {}), 300);
    this.showSoon = throttle(() => this.loadConversation().catch(() => {}), 200);
  }

  get manager() {
    return rank(this.role) >= rank("manager");
  }

  get canChat() {
    return rank(this.role) >= rank("owner");
  }

  /** Read who the operator is, the conversations, and the open one. */
  async load() {
    const who = await getJson("/whoami");
    this.role = who.status === 200 && who.body ? who.body.role : null;
    await this.loadList();
    if (this.list) await this.loadConversation();
  }

  async loadList() {
    // Without a token that may chat, /chats would only say 401: do not ask.
    const { status, body } = this.canChat ? await getJson("/chats") : { status: 401, body: null };
    if (absent(status)) {
      this.present = false;
      $("chat-panel").hidden = true;
      return;
    }
    this.present = true;
    $("chat-panel").hidden = false;
    this.build();
    document.querySelector("#chat-panel .chat").dataset.mode = this.manager ? "many" : "one";
    if (status !== 200 || !body) {
      this.list = null;
      this.peer = null;
      this.renderLocked(status);
      return;
    }
    this.list = body;
    const opened = !this.peer && this.firstPeer(body);
    if (opened) this.peer = opened;
    this.renderList();
    if (opened) await this.loadConversation();
  }

  firstPeer(body) {
    if (!this.manager && body.support) return body.support;
    return body.conversations[0]?.peer || body.support || null;
  }

  build() {
    if (this.built) return;
    this.built = true;
    fill($("chat"), el("div", { class: "chat", "data-mode": "one" },
      el("nav", { class: "chat-list", "aria-label": "Conversations" },
        el("ul", { id: "chat-conversations" }),
        el("form", { id: "chat-new", class: "inline" },
          el("label", {}, "Chat with ", el("select", { id: "chat-new-peer" })),
          el("button", { type: "submit" }, "Open"))),
      el("div", { class: "chat-main" },
        el("h3", { id: "chat-title" }, "No conversation open"),
        el("ol", { id: "chat-log", class: "chat-log", "aria-live": "polite" }),
        el("p", { id: "chat-typing", class: "chat-typing", "aria-live": "polite", hidden: true }),
        el("form", { id: "chat-form", class: "chat-form" },
          el("label", { for: "chat-input" }, "Message"),
          el("textarea", { id: "chat-input", rows: "2", maxlength: "4096", required: true }),
          el("button", { type: "submit", id: "chat-send" }, "Send")),
        el("p", { id: "chat-hint", class: "hint" }))));
    $("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    $("chat-input").addEventListener("input", () => this.onInput());
    $("chat-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.send();
      }
    });
    $("chat-new").addEventListener("submit", (event) => {
      event.preventDefault();
      const peer = $("chat-new-peer").value;
      if (peer) this.open(peer);
    });
  }

  renderLocked(status) {
    fill($("chat-conversations"));
    fill($("chat-log"));
    $("chat-title").textContent = "Chat";
    $("chat-form").hidden = true;
    $("chat-new").hidden = true;
    $("chat-hint").textContent = status === 401 || status === 403
      ? "Chats are private: give this node's operator token (role owner or above) to read and send them."
      : "The node did not answer; retrying.";
  }

  renderList() {
    const body = this.list;
    const rows = this.manager ? body.conversations : [];
    fill($("chat-conversations"), rows.map((c) => el("li", {
      "data-peer": c.peer, "data-unread": c.unread, "data-typing": c.typing,
      class: c.peer === this.peer ? "current" : null,
    }, el("button", { type: "button", class: "link", "aria-current": c.peer === this.peer ? "true" : null,
      onclick: () => this.open(c.peer) },
      el("span", { class: c.live ? "dot live" : "dot" }), ` ${c.name} `,
      c.unread ? el("span", { class: "badge", "aria-label": `${c.unread} unread` }, String(c.unread)) : null,
      c.typing ? el("span", { class: "muted" }, " typing…") : null))));
    const known = new Set(body.conversations.map((c) => c.peer));
    const others = (this.nodes() || []).filter((n) => n.id !== body.node && !known.has(n.id));
    const picker = this.manager || !this.peer;
    $("chat-new").hidden = !picker || !others.length;
    fill($("chat-new-peer"), others.map((n) => el("option", { value: n.id }, `${n.name} (${n.id})`)));
  }

  open(peer) {
    if (peer === this.peer) return;
    this.stopTyping();
    this.peer = peer;
    $("chat-input").value = "";
    if (this.list) this.renderList();
    this.loadConversation().catch(() => {});
  }

  async loadConversation() {
    if (!this.list) return; // no chat feature, or chats not readable with this token
    const peer = this.peer;
    $("chat-form").hidden = !peer || !this.canChat;
    $("chat-hint").textContent = this.canChat ? "" : "Give an operator token (role owner) to send chats.";
    if (!peer) {
      fill($("chat-log"));
      $("chat-title").textContent = "No conversation open";
      return;
    }
    const { status, body } = await getJson(`/chats/${encodeURIComponent(peer)}`);
    if (status !== 200 || !body || peer !== this.peer) return;
    $("chat-title").textContent = `${body.name} (${body.peer})${body.live ? "" : " · not reachable now"}`;
    const focused = document.activeElement === $("chat-input");
    fill($("chat-log"), body.messages.map((m) => this.row(m, body.name)));
    $("chat-log").lastElementChild?.scrollIntoView({ block: "nearest" });
    if (focused) $("chat-input").focus();
    this.showTyping(body.typing, body.name);
    const incoming = body.messages.filter((m) => m.direction === "in");
    if (body.unread > 0 && incoming.length && this.canChat && document.visibilityState === "visible") {
      await this.markRead(peer, incoming.at(-1).chatId);
    }
  }

  row(m, name) {
    const out = m.direction === "out";
    const via = !out && m.route.length > 2 ? ` · via ${m.route.slice(1, -1).join(", ")}` : "";
    return el("li", { class: out ? "out" : "in", "data-chat-id": m.chatId, "data-direction": m.direction,
      "data-status": m.status },
      el("div", { class: "text" }, m.text),
      el("div", { class: "meta" }, `${out ? "you" : name || m.from} · ${fmtTime(m.sent)}${via}`,
        out ? el("span", { class: `status ${m.status}` }, ` · ${STATUS_MARK[m.status] || m.status}`) : null));
  }

  async markRead(peer, chatId) {
    const answer = await tell("ChatReceipt", { to: peer, chatId });
    if (answer.status < 300) this.listSoon();
  }

  async send() {
    const input = $("chat-input");
    const text = input.value;
    if (!this.peer || !text.trim()) return;
    $("chat-send").disabled = true;
    try {
      const answer = await tell("Chat", { to: this.peer, text });
      if (answer.status < 300) {
        input.value = "";
        this.typingSent = 0; // the chat itself ends "typing" at the other side
        notify("");
      } else {
        notify(`Chat refused: ${answer.body?.error || answer.status}${answer.body?.detail ? ` (${answer.body.detail})` : ""}`);
      }
    } finally {
      $("chat-send").disabled = false;
    }
    await this.loadConversation();
  }

  onInput() {
    if (!this.peer || !this.canChat) return;
    const typing = $("chat-input").value.trim() !== "";
    const now = Date.now();
    if (typing && now - this.typingSent >= TYPING_EVERY_MS) {
      this.typingSent = now;
      tell("ChatTyping", { to: this.peer, typing: true }).catch(() => {});
    } else if (!typing) {
      this.stopTyping();
    }
  }

  stopTyping() {
    if (this.typingSent && this.peer) tell("ChatTyping", { to: this.peer, typing: false }).catch(() => {});
    this.typingSent = 0;
  }

  showTyping(typing, name) {
    const line = $("chat-typing");
    clearTimeout(this.typingTimer);
    line.hidden = !typing;
    line.dataset.typing = String(Boolean(typing));
    line.textContent = typing ? `${name || this.peer} is typing…` : "";
    if (typing) this.typingTimer = setTimeout(() => this.showTyping(false), TYPING_SHOWN_MS);
  }

  /** News from the event stream. */
  onEvent(kind, data) {
    if (!this.present) return;
    if (kind === "chat_typing") {
      if (data.peer === this.peer) this.showTyping(data.typing, this.nameOf(data.peer));
      if (this.manager) this.listSoon();
      return;
    }
    if (data.peer === this.peer) this.showSoon();
    this.listSoon();
  }

  nameOf(peer) {
    return this.list?.conversations.find((c) => c.peer === peer)?.name || peer;
  }
}
