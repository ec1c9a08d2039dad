// Entry point: read the server's config, apply language and theme, then sign in or open the app.

import { Api, browserAdapter } from "./sdk/browser.js";
import { h, fill } from "./dom.js";
import { t } from "./i18n.js";
import { applyTheme } from "./views/prefs.js";
import { renderLogin } from "./views/login.js";
import { AppView } from "./views/app.js";
import { updateTitle } from "./notify.js";
import { browserLabel } from "./devicename.js";

const root = document.getElementById("app");
// A first sign-in names this browser after its user agent, so the device list reads well.
const api = new Api(browserAdapter(), { deviceLabel: browserLabel() });
let app = null;

async function loadConfig() {
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      return await api.config();
    } catch {
      // The server may be restarting; try again shortly.
    }
    fill(root, h("div.boot", null, h("span.spinner"), t("state_connecting")));
    await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** attempt)));
  }
  throw new Error("no config");
}

function showLogin(config, notice = "") {
  app = null;
  updateTitle(0);
  history.replaceState(null, "", location.pathname);
  renderLogin(root, api, () => showApp(config), notice);
}

function showApp(config) {
  app = new AppView(root, api, config, (notice) => showLogin(config, notice));
  window.pigeon = app.client; // handy from the console when something looks wrong
  app.start();
}

async function boot() {
  applyTheme();
  updateTitle(0);
  const config = await loadConfig();
  api.onAuthLost = () => {
    if (app) app.signedOut(t("session_expired"));
  };
  api.onAuthChange = () => {};
  if (api.auth) showApp(config);
  else showLogin(config);
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => applyTheme());
}

boot();
