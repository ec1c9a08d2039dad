// SDK users for the Node integration tests (Node adapter, real sockets to a real server).

import { Api, PigeonClient, nodeAdapter } from "../../src/node.js";
import { waitFor, uniqueName, PASSWORD } from "./server.js";

export const FAST_BACKOFF = { initialMs: 100, maxMs: 2_000 };

/** A client for an account already stored in `storage` (as an app restarting would). */
export async function resumeUser(server, storage) {
  const adapter = nodeAdapter({ storage });
  const api = new Api(adapter, { baseUrl: server.baseUrl });
  const config = await api.config();
  const client = new PigeonClient(api, config, { backoff: FAST_BACKOFF });
  const messages = [];
  client.on("message", (m) => messages.push(m));
  return { adapter, api, client, messages, config, user: api.user };
}

/** Register a new user and connect; resolves once caught up. */
export async function newUser(server, { storage } = {}) {
  const probe = nodeAdapter({ storage });
  const api = new Api(probe, { baseUrl: server.baseUrl });
  await api.register(uniqueName(), PASSWORD);
  api.close();
  const user = await resumeUser(server, probe.storage);
  await user.client.start();
  await waitFor(() => user.client.synced, { what: "first sync" });
  return user;
}

/** Texts of one conversation's stream, in delivery order. */
export function texts(messages, conv) {
  return messages.filter((m) => m.conv === conv && m.kind === "text").map((m) => m.body.text);
}

/** Assert-friendly: seqs of one conversation are 1..n-ish strictly ascending, no repeats. */
export function ascending(messages, conv) {
  const seqs = messages.filter((m) => m.conv === conv).map((m) => m.seq);
  return seqs.every((seq, i) => i === 0 || seq === seqs[i - 1] + 1);
}
