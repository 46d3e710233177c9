// Talking to the node that served this page, and to no one else (the CSP says so too).
//
// Reads: GET with the token when one is kept (nodes may keep reads private).
// Changes: POST /messaging with the JSON envelope and the token in
// Authorization, exactly as curl sends them.
// Live news: GET /events read as a stream (fetch, so the token can go in a
// header, which EventSource cannot do); while it is down, the page polls.

const TOKEN_KEY = "grid.operatorToken";

/** The operator token, kept for this tab only (sessionStorage). */
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

function headers(extra = {}) {
  const kept = token.get();
  return kept ? { ...extra, Authorization: kept } : extra;
}

/** {status, body} of a response; body is null when it is not JSON. */
async function answer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

/** GET a JSON endpoint: {status, body} (body null when it is not JSON). Network errors throw. */
export async function getJson(path) {
  const response = await fetch(path, { headers: headers({ Accept: "application/json" }), cache: "no-store" });
  return answer(response);
}

/** Send one operator message (a Tell) to /messaging: {status, body}. */
export async function tell(msgType, msg) {
  const envelope = { envType: "Tell", msgType, msg };
  const response = await fetch("/messaging", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "application/json" }),
    body: JSON.stringify(envelope),
    cache: "no-store",
  });
  return answer(response);
}

/** Whether a read answer means "this feature does not run here" (the panel stays hidden). */
export function absent(status) {
  return status === 400 || status === 404 || status === 405;
}

const STALL_MS = 40_000; // the node sends a keep-alive every 15 s: silence this long means a dead stream
const POLL_MS = 2_000;
const MAX_BACKOFF_MS = 15_000;

/**
 * Keep the page live: the event stream when it works, polling while it does not.
 *
 * options.kinds: event kinds to subscribe to; options.onEvent(kind, data);
 * options.onOpen(): the stream (re)connected, resynchronise; options.poll():
 * one polling round (a promise); options.onMode(mode): "live", "polling",
 * "offline"; options.onUnauthorized(): reads need a token.
 */
export function keepLive(options) {
  let lastId = 0;
  let pollTimer = null;
  let mode = "";

  const setMode = (next) => {
    if (next !== mode) {
      mode = next;
      options.onMode(next);
    }
  };

  const pollOnce = async () => {
    try {
      await options.poll();
      if (mode !== "live") setMode("polling");
    } catch {
      if (mode !== "live") setMode("offline");
    }
  };
  const startPolling = () => {
    if (pollTimer === null) pollTimer = setInterval(pollOnce, POLL_MS);
  };
  const stopPolling = () => {
    clearInterval(pollTimer);
    pollTimer = null;
  };

  async function streamOnce() {
    const abort = new AbortController();
    let watchdog = setTimeout(() => abort.abort(), STALL_MS);
    const kick = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(), STALL_MS);
    };
    try {
      const query = `kinds=${encodeURIComponent(options.kinds.join(","))}&after=${lastId}`;
      const response = await fetch(`/events?${query}`, {
        headers: headers({ Accept: "text/event-stream" }),
        cache: "no-store",
        signal: abort.signal,
      });
      if (response.status === 401) options.onUnauthorized();
      if (!response.ok || !response.body) return;
      setMode("live");
      stopPolling();
      options.onOpen();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        kick();
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          deliver(block);
        }
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  function deliver(block) {
    let kind = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // a keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id" && /^\d+$/.test(value)) lastId = Number(value);
      else if (field === "event") kind = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    try {
      options.onEvent(kind, JSON.parse(data.join("\n")));
    } catch (err) {
      console.warn("dashboard: bad event", kind, err);
    }
  }

  async function run() {
    let backoff = 1_000;
    for (;;) {
      const started = Date.now();
      try {
        await streamOnce();
      } catch {
        // network error or stall: fall back to polling below
      }
      if (Date.now() - started > 10_000) backoff = 1_000; // it had worked for a while
      setMode("polling");
      startPolling();
      pollOnce();
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  if (typeof ReadableStream === "undefined" || typeof TextDecoderStream === "undefined") {
    setMode("polling"); // an old browser: polling only
    startPolling();
    pollOnce();
  } else {
    run();
  }
}
