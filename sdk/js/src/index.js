// The platform-neutral SDK. Pick an entry with an adapter: ./browser.js, ./node.js, ./wechat.js.

export { Api, ApiError, parseEnvelope } from "./core/rest.js";
export { PigeonClient } from "./core/client.js";
export { Link, NEEDS_NEW_TOKEN, ENDS_SESSION } from "./core/link.js";
export { Backoff, RECONNECT_POLICY } from "./core/backoff.js";
export { StreamTracker } from "./core/tracker.js";
export { Timeline } from "./core/timeline.js";
export { Outbox, HIDDEN_KINDS, SEND_WINDOW } from "./core/outbox.js";
export { MARK_KINDS, NOTICE_KINDS, applyReaction, applyPinEntry } from "./core/marks.js";
export { MemoryStorage, readJson, writeJson } from "./core/storage.js";
export { uploadFile, TUS_THRESHOLD, TUS_CHUNK } from "./core/uploads.js";
export { newCid, newDeviceId } from "./core/ids.js";
export { Emitter } from "./core/emitter.js";
