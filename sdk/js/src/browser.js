// Browser entry: the SDK with the browser adapter. No dependencies; served as plain ES modules.

export * from "./index.js";
export { browserAdapter } from "./adapters/browser.js";
