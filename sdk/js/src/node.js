// Node entry: the SDK with the Node adapter (needs the `ws` package).

export * from "./index.js";
export { nodeAdapter, FileStorage } from "./adapters/node.js";
