// Language and theme switches, usable before and after signing in.

import { h } from "../dom.js";
import { t, lang, setLang } from "../i18n.js";
import { icon } from "../icons.js";

const THEME_KEY = "pigeon.theme";

export function theme() {
  return localStorage.getItem(THEME_KEY) || "system";
}

export function effectiveTheme() {
  const chosen = theme();
  if (chosen !== "system") return chosen;
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function applyTheme(value = theme()) {
  localStorage.setItem(THEME_KEY, value);
  if (value === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = value;
  const meta = document.querySelector("meta[name=theme-color]");
  if (meta) meta.content = effectiveTheme() === "dark" ? "#17212b" : "#ffffff";
  for (const fn of themeListeners) fn();
}

const themeListeners = new Set();
export function onThemeChange(fn) {
  themeListeners.add(fn);
  return () => themeListeners.delete(fn);
}

export function toggleTheme() {
  applyTheme(effectiveTheme() === "dark" ? "light" : "dark");
}

export function themeButton() {
  const button = h("button.icon-btn.theme-toggle", {
    type: "button",
    "aria-label": t("toggle_theme"),
    title: t("toggle_theme"),
    "aria-pressed": String(effectiveTheme() === "dark"),
    onclick: () => {
      toggleTheme();
      button.replaceChildren(icon(effectiveTheme() === "dark" ? "sun" : "moon"));
      button.setAttribute("aria-pressed", String(effectiveTheme() === "dark"));
    },
  }, icon(effectiveTheme() === "dark" ? "sun" : "moon"));
  return button;
}

export function languageSelect() {
  return h(
    "select.lang-select",
    { "aria-label": t("language"), onchange: (event) => setLang(event.target.value) },
    h("option", { value: "en", selected: lang() === "en" }, "English"),
    h("option", { value: "zh", selected: lang() === "zh" }, "简体中文"),
  );
}

export function themeSelect() {
  return h(
    "select",
    { "aria-label": t("theme"), onchange: (event) => applyTheme(event.target.value) },
    ["system", "light", "dark"].map((value) => h("option", { value, selected: theme() === value }, t(`theme_${value}`))),
  );
}

export function prefsBar() {
  return h("div.prefs-bar", null, h("span.prefs-icon", null, icon("language", { size: 18 })), languageSelect(), themeButton());
}
