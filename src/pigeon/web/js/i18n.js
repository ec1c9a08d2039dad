// The user's language: dictionaries in lang/, server errors by code in lang/errors.js.
// The browser's language picks one; the user can switch.

import { en } from "./lang/en.js";
import { zh } from "./lang/zh.js";
import { ERRORS } from "./lang/errors.js";

const DICTS = { en, zh };
const listeners = new Set();
let current = pickInitial();

function pickInitial() {
  const saved = localStorage.getItem("pigeon.lang");
  if (saved && DICTS[saved]) return saved;
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return browser.toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function lang() {
  return current;
}

export function setLang(code) {
  if (!DICTS[code] || code === current) return;
  current = code;
  localStorage.setItem("pigeon.lang", code);
  document.documentElement.lang = code === "zh" ? "zh-CN" : "en";
  for (const fn of listeners) fn(code);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Translate `key`, filling {placeholders} from `vars`. */
export function t(key, vars) {
  const text = DICTS[current][key] ?? en[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** Whether a failure is the network's (no answer at all), not the server's refusal. */
export function isNetworkError(error) {
  return !!error && (error.status === 0 || (!error.code && error.message === "network"));
}

/**
 * A failure in the user's language: the table's text for a known error code, a plain
 * "you're offline" for a request that never reached the server, else the server's words.
 */
export function errorText(error) {
  if (isNetworkError(error)) return t("offline_retrying");
  const row = error && error.code ? ERRORS[error.code] : null;
  if (row) return row[current] ?? row.en;
  return (error && error.message) || t("network_error");
}

/** Languages the client ships, for the completeness test and the language menu. */
export const LANGUAGES = Object.keys(DICTS);

/** The dictionaries (read-only use: the completeness test compares their keys). */
export function dictionaries() {
  return DICTS;
}

export function formatTime(ts) {
  return new Date(ts).toLocaleTimeString(current === "zh" ? "zh-CN" : undefined, {
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function formatDay(ts) {
  const date = new Date(ts);
  const now = new Date();
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (date.toDateString() === now.toDateString()) return t("today");
  if (date.toDateString() === yesterday.toDateString()) return t("yesterday");
  const locale = current === "zh" ? "zh-CN" : undefined;
  const sameYear = date.getFullYear() === now.getFullYear();
  return date.toLocaleDateString(locale, {
    weekday: sameYear ? "short" : undefined,
    month: "short",
    day: "numeric",
    year: sameYear ? undefined : "numeric",
  });
}

/** Short stamp for the conversation list: time today, weekday this week, else the date. */
export function formatListTime(ts) {
  if (!ts) return "";
  const date = new Date(ts);
  const now = new Date();
  const locale = current === "zh" ? "zh-CN" : undefined;
  if (date.toDateString() === now.toDateString()) return formatTime(ts);
  if (now - date < 6 * 86400000) return date.toLocaleDateString(locale, { weekday: "short" });
  return date.toLocaleDateString(locale, { month: "numeric", day: "numeric" });
}

export function formatAgo(ts) {
  if (!ts) return "";
  const seconds = Math.max(0, (Date.now() - ts) / 1000);
  const rtf = new Intl.RelativeTimeFormat(current === "zh" ? "zh-CN" : "en", { numeric: "auto" });
  if (seconds < 60) return rtf.format(0, "second");
  if (seconds < 3600) return rtf.format(-Math.floor(seconds / 60), "minute");
  if (seconds < 86400) return rtf.format(-Math.floor(seconds / 3600), "hour");
  return rtf.format(-Math.floor(seconds / 86400), "day");
}

document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
