// WeChat mini-program entry: the SDK with the wx adapter. No dependencies.

export * from "./index.js";
export { wechatAdapter } from "./adapters/wechat.js";
