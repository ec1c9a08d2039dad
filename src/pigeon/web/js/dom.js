// Small DOM helpers: element builder, keyed list reconciliation, formatting.

/** Build an element: h("button.primary", {onclick, "aria-label": "x"}, "text", child). */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else if (key === "class") {
        el.className = [el.className, value].filter(Boolean).join(" ");
      } else if (key === "style") {
        // Through the CSSOM, which a Content-Security-Policy without 'unsafe-inline' allows.
        el.style.cssText = String(value);
      } else if (key === "dataset") {
        Object.assign(el.dataset, value);
      } else if (key === "value" || key === "checked" || key === "disabled" || key === "hidden") {
        el[key] = value;
      } else {
        el.setAttribute(key, value === true ? "" : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Make `container`'s children exactly `nodes`, moving only what changed (keeps selection). */
export function reconcile(container, nodes) {
  let current = container.firstChild;
  for (const node of nodes) {
    if (node === current) {
      current = current.nextSibling;
      continue;
    }
    container.insertBefore(node, current);
  }
  while (current) {
    const next = current.nextSibling;
    current.remove();
    current = next;
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Replace `el`'s children; like h(), null/false children are skipped and arrays flattened. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const PALETTE = ["#e17076", "#7bc862", "#e5a64e", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774"];

function hashString(text) {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) | 0;
  return Math.abs(hash);
}

export function initials(name) {
  const clean = (name || "?").trim();
  const words = clean.split(/\s+/).filter(Boolean);
  if (words.length >= 2) return (Array.from(words[0])[0] + Array.from(words[1])[0]).toUpperCase();
  return Array.from(clean).slice(0, 2).join("").toUpperCase() || "?";
}

/** A round avatar: the picture when there is one, coloured initials otherwise. */
export function avatar(name, key, url, { online = null, size = "" } = {}) {
  const el = h(`span.avatar${size ? "." + size : ""}`, { "aria-hidden": "true" });
  if (url && /^(https?:|\/)/.test(url)) {
    el.append(h("img", { src: url, alt: "", loading: "lazy" }));
  } else {
    el.style.background = PALETTE[hashString(key || name || "") % PALETTE.length];
    el.textContent = initials(name);
  }
  if (online !== null) el.append(h(`span.dot${online ? ".on" : ""}`));
  return el;
}

export function colorFor(key) {
  return PALETTE[hashString(key || "") % PALETTE.length];
}

export function sameDay(a, b) {
  const x = new Date(a);
  const y = new Date(b);
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate();
}

export function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Characters as the server counts them (code points, not UTF-16 units). */
export function textLength(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

/** Text with links and @mentions as nodes; never HTML from the message. */
export function richText(text, mentionNames = []) {
  const out = [];
  const names = mentionNames.filter(Boolean).sort((a, b) => b.length - a.length);
  const pattern = names.length
    ? new RegExp(`${URL_RE.source}|@(?:${names.map(escapeRe).join("|")})`, "g")
    : new RegExp(URL_RE.source, "g");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith("@")) out.push(h("span.mention", null, token));
    else out.push(h("a", { href: token, target: "_blank", rel: "noopener noreferrer" }, token));
    last = match.index + token.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function escapeRe(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const EMOJI_ONLY = /^(?:\p{Extended_Pictographic}|\p{Emoji_Component}|\u200d|\ufe0f|\s){1,12}$/u;

export function isEmojiOnly(text) {
  return !!text && text.length <= 24 && EMOJI_ONLY.test(text) && /\p{Extended_Pictographic}/u.test(text);
}

/** Focus the first focusable element inside `root`. */
export function focusFirst(root) {
  const el = root.querySelector("[autofocus], input, textarea, select, button, [tabindex='0']");
  if (el) el.focus();
}
