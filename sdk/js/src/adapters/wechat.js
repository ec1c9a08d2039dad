// WeChat mini-program adapter: wx.connectSocket (a SocketTask), wx.request, wx.uploadFile,
// wx.getStorageSync / wx.setStorageSync, and wx.onNetworkStatusChange / wx.onAppShow, which
// make the client reconnect and sync. Files are temp file paths (from wx.chooseMedia).
// wx.request has no PATCH, so uploads are multipart (wx.uploadFile) whatever their size.

/** @param {Record<string, any> | undefined} header */
function lowerHeaders(header) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const [name, value] of Object.entries(header || {})) out[name.toLowerCase()] = String(value);
  return out;
}

/** @param {any} data */
function asText(data) {
  if (typeof data === "string") return data;
  // The server sends text frames only; a binary one would be a protocol error anyway.
  if (typeof ArrayBuffer !== "undefined" && data instanceof ArrayBuffer) return "";
  return JSON.stringify(data ?? null);
}

/**
 * @param {any} wxApi  the mini-program's `wx` object
 * @returns {import("../core/adapter.js").Adapter}
 */
export function wechatAdapter(wxApi) {
  const wx = wxApi;
  let online = true;
  /** @type {Set<(online: boolean) => void>} */
  const networkListeners = new Set();
  // wx.onNetworkStatusChange listeners cannot all be removed in old base libraries: register
  // one and fan out.
  wx.onNetworkStatusChange((/** @type {{isConnected: boolean}} */ status) => {
    online = !!status.isConnected;
    for (const fn of networkListeners) fn(online);
  });
  return {
    platform: "wx",
    openSocket(url, { onOpen, onMessage, onClose }) {
      let closed = false;
      const finish = (/** @type {number} */ code, /** @type {string} */ reason) => {
        if (closed) return;
        closed = true;
        onClose(code, reason);
      };
      const task = wx.connectSocket({ url, fail: () => finish(1006, "connect failed") });
      task.onOpen(() => onOpen());
      task.onMessage((/** @type {{data: any}} */ event) => onMessage(asText(event.data)));
      task.onClose((/** @type {{code: number, reason: string}} */ event) => finish(event.code || 1006, event.reason || ""));
      task.onError(() => finish(1006, "error"));
      return {
        send: (text) => task.send({ data: text }),
        close: (code = 1000, reason = "") => {
          closed = true;
          task.close({ code: code >= 4000 || code === 1000 ? code : 1000, reason });
        },
      };
    },
    request({ method, url, headers, body }) {
      return new Promise((resolve, reject) => {
        wx.request({
          url,
          method,
          header: headers,
          data: body,
          dataType: "text",
          responseType: "text",
          success: (/** @type {any} */ res) => resolve({ status: res.statusCode, headers: lowerHeaders(res.header), text: asText(res.data) }),
          fail: (/** @type {any} */ err) => reject(new Error((err && err.errMsg) || "request failed")),
        });
      });
    },
    upload({ url, headers, file, onProgress }) {
      return new Promise((resolve, reject) => {
        const task = wx.uploadFile({
          url,
          filePath: typeof file === "string" ? file : file.path,
          name: "file",
          header: headers,
          success: (/** @type {any} */ res) => resolve({ status: res.statusCode, headers: lowerHeaders(res.header), text: asText(res.data) }),
          fail: (/** @type {any} */ err) => reject(new Error((err && err.errMsg) || "upload failed")),
        });
        if (task && onProgress) task.onProgressUpdate((/** @type {{progress: number}} */ p) => onProgress(p.progress / 100));
      });
    },
    storage: {
      getItem(key) {
        const value = wx.getStorageSync(key);
        // getStorageSync answers "" for a missing key.
        return value === "" || value === undefined || value === null ? null : String(value);
      },
      setItem: (key, value) => wx.setStorageSync(key, value),
      removeItem: (key) => wx.removeStorageSync(key),
    },
    onNetwork(fn) {
      networkListeners.add(fn);
      return () => networkListeners.delete(fn);
    },
    onForeground(fn) {
      wx.onAppShow(fn);
      return () => {
        if (wx.offAppShow) wx.offAppShow(fn);
      };
    },
    isOnline: () => online,
  };
}
