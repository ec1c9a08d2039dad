// A `wx` object for Node whose network calls are real: connectSocket is a `ws` socket,
// request is fetch, uploadFile is a real multipart POST of a file on disk. Storage is a Map
// (shared between "launches" to model a restarted app), and the events a phone would raise
// (network status, app shown) are raised by the test. It implements the subset of the
// mini-program API the SDK's adapter and the example use, with the same shapes.

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import WebSocket from "ws";

// What wx.request accepts; PATCH is not among them, as on a phone.
const WX_METHODS = new Set(["OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT"]);

function headerObject(headers) {
  const out = {};
  headers.forEach((value, name) => {
    // wx keeps the server's spelling; a capitalised one checks the adapter lower-cases.
    out[name.replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase())] = value;
  });
  return out;
}

export function createWx({ storage = new Map(), chooseMediaPath = null } = {}) {
  const listeners = { network: new Set(), appShow: new Set() };
  const record = { navigations: [], previews: [], toasts: [], titles: [], sockets: 0 };
  const wx = {
    record,
    storage,
    chooseMediaPath,

    connectSocket({ url, fail }) {
      record.sockets += 1;
      const ws = new WebSocket(url);
      const handlers = { open: [], message: [], close: [], error: [] };
      ws.on("open", () => handlers.open.forEach((fn) => fn({})));
      ws.on("message", (data) => handlers.message.forEach((fn) => fn({ data: data.toString() })));
      ws.on("close", (code, reason) => handlers.close.forEach((fn) => fn({ code, reason: reason.toString() })));
      ws.on("error", (error) => {
        handlers.error.forEach((fn) => fn({ errMsg: String(error.message) }));
        if (ws.readyState === WebSocket.CONNECTING && fail) fail({ errMsg: "connectSocket:fail" });
      });
      return {
        onOpen: (fn) => handlers.open.push(fn),
        onMessage: (fn) => handlers.message.push(fn),
        onClose: (fn) => handlers.close.push(fn),
        onError: (fn) => handlers.error.push(fn),
        send({ data, success, fail: failed }) {
          try {
            ws.send(data);
            if (success) success({});
          } catch (error) {
            if (failed) failed({ errMsg: String(error) });
          }
        },
        close({ code = 1000, reason = "" } = {}) {
          if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
          else ws.close(code, reason);
        },
      };
    },

    request({ url, method = "GET", header = {}, data, success, fail, complete }) {
      const upper = method.toUpperCase();
      if (!WX_METHODS.has(upper)) {
        const error = { errMsg: `request:fail invalid method ${method}` };
        if (fail) fail(error);
        if (complete) complete(error);
        return { abort() {} };
      }
      const body = data === undefined || upper === "GET" || upper === "HEAD" ? undefined : typeof data === "string" ? data : JSON.stringify(data);
      fetch(url, { method: upper, headers: header, body })
        .then(async (response) => {
          const result = { statusCode: response.status, header: headerObject(response.headers), data: await response.text() };
          if (success) success(result);
          if (complete) complete(result);
        })
        .catch((error) => {
          if (fail) fail({ errMsg: `request:fail ${error.message}` });
          if (complete) complete({ errMsg: "request:fail" });
        });
      return { abort() {} };
    },

    uploadFile({ url, filePath, name, header = {}, formData = {}, success, fail }) {
      const progress = [];
      const run = async () => {
        const bytes = readFileSync(filePath);
        const form = new FormData();
        for (const [key, value] of Object.entries(formData)) form.append(key, String(value));
        form.append(name, new Blob([bytes]), basename(filePath));
        progress.forEach((fn) => fn({ progress: 0, totalBytesSent: 0, totalBytesExpectedToSend: bytes.length }));
        const response = await fetch(url, { method: "POST", headers: header, body: form });
        progress.forEach((fn) => fn({ progress: 100, totalBytesSent: bytes.length, totalBytesExpectedToSend: bytes.length }));
        return { statusCode: response.status, header: headerObject(response.headers), data: await response.text() };
      };
      run().then((result) => success && success(result), (error) => fail && fail({ errMsg: `uploadFile:fail ${error.message}` }));
      return { onProgressUpdate: (fn) => progress.push(fn), abort() {} };
    },

    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ""),
    setStorageSync: (key, value) => {
      storage.set(key, value);
    },
    removeStorageSync: (key) => {
      storage.delete(key);
    },

    onNetworkStatusChange: (fn) => listeners.network.add(fn),
    offNetworkStatusChange: (fn) => listeners.network.delete(fn),
    onAppShow: (fn) => listeners.appShow.add(fn),
    offAppShow: (fn) => listeners.appShow.delete(fn),

    chooseMedia({ success, fail }) {
      if (!wx.chooseMediaPath) {
        if (fail) fail({ errMsg: "chooseMedia:fail cancel" });
        return;
      }
      const size = readFileSync(wx.chooseMediaPath).length;
      setTimeout(() => success({ type: "image", tempFiles: [{ tempFilePath: wx.chooseMediaPath, size, fileType: "image" }] }), 0);
    },
    previewImage: (options) => record.previews.push(options),
    showToast: (options) => record.toasts.push(options),
    setNavigationBarTitle: ({ title }) => record.titles.push(title),
    navigateTo: ({ url }) => record.navigations.push(url),
    redirectTo: ({ url }) => record.navigations.push(url),
    reLaunch: ({ url }) => record.navigations.push(url),
    navigateBack: () => record.navigations.push("back"),
  };

  /** What the phone would do: the network went away or came back. */
  wx.emitNetwork = (isConnected) => listeners.network.forEach((fn) => fn({ isConnected, networkType: isConnected ? "wifi" : "none" }));
  /** What the phone would do: the user brought the mini-program back to the foreground. */
  wx.emitAppShow = () => listeners.appShow.forEach((fn) => fn({ path: "pages/chat/chat", scene: 1001 }));
  return wx;
}
