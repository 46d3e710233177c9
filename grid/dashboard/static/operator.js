// The operator: asks for the token once (a dialog), keeps it for this tab, and
// sends changes with it. Without a token the page stays read-only.

import { tell, token } from "./api.js";

const $ = (id) => document.getElementById(id);

let pending = null; // the resolver of the dialog that is open

/** Open the token dialog; resolves to the token given, or null when cancelled. */
export function askToken(reason = "") {
  const dialog = $("token-dialog");
  const input = $("token-input");
  input.value = "";
  input.setAttribute("aria-describedby", "token-h");
  if (reason) notify(reason);
  if (pending) return pending.promise;
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  pending = { promise, resolve };
  dialog.showModal();
  input.focus();
  return promise;
}

function closeDialog(value) {
  const dialog = $("token-dialog");
  if (dialog.open) dialog.close();
  if (pending) {
    pending.resolve(value);
    pending = null;
  }
}

/** Show a short message to the operator (an ARIA alert). */
export function notify(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = !text;
}

function showStatus() {
  const has = Boolean(token.get());
  $("operator-status").textContent = has ? "operator token set" : "read-only";
  $("token-forget").hidden = !has;
  document.body.classList.toggle("can-act", has);
}

/** Wire the token dialog and buttons. */
export function setupOperator(onToken) {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    token.set(value);
    showStatus();
    notify("");
    closeDialog(value);
    onToken();
  });
  $("token-cancel").addEventListener("click", () => closeDialog(null));
  $("token-dialog").addEventListener("cancel", () => closeDialog(null));
  $("token-button").addEventListener("click", () => askToken());
  $("token-forget").addEventListener("click", () => {
    token.clear();
    showStatus();
    notify("Token forgotten: the page is read-only.");
  });
  showStatus();
}

/**
 * Send an operator message: asks for the token first when none is kept, and
 * once more when the node refuses it. Resolves to {status, body}, or null when
 * the operator cancelled.
 */
export async function act(msgType, msg) {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (!token.get() && !(await askToken())) return null;
    const answer = await tell(msgType, msg);
    if (answer.status !== 401) {
      const ok = answer.status >= 200 && answer.status < 300;
      notify(ok ? "" : `${msgType} refused: ${describe(answer)}`);
      return answer;
    }
    token.clear();
    showStatus();
    if (attempt === 0) notify("The node refused that token; try again.");
  }
  notify("The node refused that token.");
  return null;
}

function describe(answer) {
  const body = answer.body || {};
  return `${body.error || answer.status}${body.detail ? ` (${body.detail})` : ""}`;
}
