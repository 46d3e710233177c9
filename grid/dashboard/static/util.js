// Small helpers: building DOM safely, numbers with units, timing.
// Every text from the node (names, messages) goes in with textContent, never
// as markup: gossip carries what other nodes say about themselves.

const SVG_NS = "http://www.w3.org/2000/svg";

/** An HTML element with attributes and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element with attributes and children. */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

/** Replace every child of `node`. */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

const kw = new Intl.NumberFormat("en", { maximumFractionDigits: 3 });
const whole = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
const one = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });

/** Kilowatts as text, e.g. "12.345 kW" (watt precision, as the node counts). */
export const fmtKw = (v) => (isNum(v) ? `${kw.format(v)} kW` : "–");
/** Energy, e.g. "0.42 kWh". */
export const fmtKwh = (v) => (isNum(v) ? `${kw.format(v)} kWh` : "–");
/** Market price, e.g. "48 EUR/MWh". */
export const fmtPrice = (v) => (isNum(v) ? `${whole.format(v)} EUR/MWh` : "–");
/** Carbon intensity, e.g. "320 gCO2/kWh". */
export const fmtCarbon = (v) => (isNum(v) ? `${whole.format(v)} gCO2/kWh` : "–");
/** A share 0..1 as a percentage, e.g. "73.5 %". */
export const fmtPercent = (v) => (isNum(v) ? `${one.format(v * 100)} %` : "–");

export function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/** Local date and time of epoch milliseconds, short. */
export function fmtTime(ms) {
  if (!isNum(ms)) return "open";
  return new Date(ms).toLocaleString("en-GB", { dateStyle: "short", timeStyle: "short" });
}

/** Set a figure: its text (with unit) and its raw value in data-value (for tests and tools). */
export function setFigure(root, field, text, value) {
  for (const node of root.querySelectorAll(`[data-field="${field}"]`)) {
    node.textContent = text;
    if (value === undefined || value === null) node.removeAttribute("data-value");
    else node.dataset.value = String(value);
  }
}

/**
 * `fn` at most once per `ms`: the first call runs at once, later calls within
 * the window collapse into one trailing call, so the last news is never lost.
 */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return function throttled() {
    const wait = last + ms - Date.now();
    if (wait <= 0 && timer === null) {
      last = Date.now();
      fn();
    } else if (timer === null) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, Math.max(0, wait));
    }
  };
}

/** Today in the browser's zone as YYYY-MM-DD (the value of a date input). */
export function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** A node address ("host:port") made into its dashboard URL, or null if it is not one. */
export function dashboardUrl(address) {
  if (typeof address !== "string" || !/^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/.test(address)) {
    return null;
  }
  try {
    const url = new URL(`http://${address}/`);
    return url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}
