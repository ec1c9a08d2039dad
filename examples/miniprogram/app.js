// The mini-program: one Api (tokens in wx storage) and one PigeonClient for the signed-in user,
// shared by the pages. The SDK reconnects and syncs by itself, also on wx.onAppShow and when
// wx.onNetworkStatusChange reports the network back.

import { SERVER } from "./config.js";
import { Api, PigeonClient, wechatAdapter } from "./sdk/wechat.js";

App({
  globalData: { server: SERVER },

  /** @returns {Api} */
  api() {
    if (!this._api) this._api = new Api(wechatAdapter(wx), { baseUrl: this.globalData.server });
    return this._api;
  },

  /** The live client of the signed-in user (started once), or null when signed out. */
  async client() {
    const api = this.api();
    if (!api.auth) return null;
    if (!this._client) {
      this._client = (async () => {
        const config = await api.config();
        const client = new PigeonClient(api, config);
        client.on("authlost", () => this.signOut(false));
        await client.start();
        return client;
      })();
      this._client.catch(() => {
        this._client = null;
      });
    }
    return this._client;
  },

  /** Sign out; `everywhere` also tells the server (a lost login only forgets locally). */
  async signOut(everywhere = true) {
    const pending = this._client;
    this._client = null;
    const client = pending ? await pending.catch(() => null) : null;
    if (client) {
      client.stop();
      client.forgetLocalData();
    }
    if (everywhere) await this.api().logout();
    else this.api().clear();
    wx.reLaunch({ url: "/pages/login/login" });
  },
});
