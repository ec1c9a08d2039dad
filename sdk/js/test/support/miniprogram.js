// Runs the example mini-program's App and Page logic in Node: App(), Page() and getApp() as the
// mini-program runtime gives them, setData merging into data, pages opened by their route.

import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { REPO } from "./server.js";

const ROOT = join(REPO, "examples", "miniprogram");
let launches = 0;

export class MiniProgram {
  /** @param {any} wx  from createWx() */
  constructor(wx) {
    this.wx = wx;
    this.app = null;
    this.pages = [];
    this.definitions = new Map();
    this.launch = ++launches;
  }

  /** Load app.js (a fresh module instance per launch, as a cold start) pointed at `server`. */
  async start(serverUrl) {
    globalThis.wx = this.wx;
    let definition = null;
    globalThis.App = (def) => {
      definition = def;
    };
    globalThis.getApp = () => this.app;
    await import(`${pathToFileURL(join(ROOT, "app.js")).href}?launch=${this.launch}`);
    this.app = { ...definition, globalData: { ...definition.globalData, server: serverUrl } };
    if (this.app.onLaunch) this.app.onLaunch({});
    return this;
  }

  /** Open a page by its url ("/pages/chat/chat?conv=…"): onLoad runs, the instance returns. */
  async open(url) {
    const [path, search = ""] = url.replace(/^\//, "").split("?");
    const query = Object.fromEntries(new URLSearchParams(search));
    let definition = this.definitions.get(path);
    if (!definition) {
      // A page module runs once per launch; its Page() definition serves every instance.
      globalThis.Page = (def) => {
        definition = def;
      };
      await import(`${pathToFileURL(join(ROOT, `${path}.js`)).href}?launch=${this.launch}`);
      this.definitions.set(path, definition);
    }
    const page = { ...definition, route: path, data: structuredClone(definition.data || {}) };
    page.setData = (patch, done) => {
      Object.assign(page.data, patch);
      if (done) done();
    };
    this.pages.push(page);
    if (page.onLoad) await page.onLoad(query);
    if (page.onShow) page.onShow();
    return page;
  }

  /** The last navigation a page asked for. */
  lastNavigation() {
    return this.wx.record.navigations[this.wx.record.navigations.length - 1];
  }

  /** Close a page (navigateBack): onUnload runs. */
  close(page) {
    if (page.onUnload) page.onUnload();
    this.pages = this.pages.filter((p) => p !== page);
  }

  async stop() {
    for (const page of [...this.pages].reverse()) this.close(page);
    const pending = this.app && this.app._client;
    const client = pending ? await pending.catch(() => null) : null;
    if (client) client.stop();
    if (this.app && this.app._api) this.app._api.close();
  }
}

/** A tap or input event as the runtime delivers it. */
export function tap(dataset = {}) {
  return { currentTarget: { dataset }, target: { dataset }, detail: {} };
}

export function input(value) {
  return { detail: { value } };
}
