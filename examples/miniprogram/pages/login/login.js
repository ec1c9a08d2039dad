// Sign in or create an account, then go to the conversation list.

Page({
  data: { mode: "login", username: "", password: "", error: "", busy: false },

  onLoad() {
    if (getApp().api().auth) wx.redirectTo({ url: "/pages/conversations/conversations" });
  },

  onUsername(event) {
    this.setData({ username: event.detail.value });
  },

  onPassword(event) {
    this.setData({ password: event.detail.value });
  },

  toggleMode() {
    this.setData({ mode: this.data.mode === "login" ? "register" : "login", error: "" });
  },

  async submit() {
    if (this.data.busy) return;
    const app = getApp();
    const api = app.api();
    this.setData({ busy: true, error: "" });
    try {
      const username = this.data.username.trim();
      if (this.data.mode === "login") await api.login(username, this.data.password);
      else await api.register(username, this.data.password);
      await app.client();
      wx.redirectTo({ url: "/pages/conversations/conversations" });
    } catch (error) {
      this.setData({ error: (error && error.message) || "sign-in failed" });
    } finally {
      this.setData({ busy: false });
    }
  },
});
