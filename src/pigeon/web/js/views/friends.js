// Contacts: friend requests in and out, the friend list, a person's profile card.

import { h, avatar, fill } from "../dom.js";
import { t, errorText, formatAgo } from "../i18n.js";
import { icon } from "../icons.js";
import { openDialog, toast, confirmDialog } from "./dialogs.js";

function fail(error) {
  toast(t("something_wrong", { msg: errorText(error) }), "error");
}

export async function renderContacts(pane, ctx) {
  const client = ctx.client;
  if (!pane.firstChild) fill(pane, h("p.muted-text", null, t("loading")));
  let requests = [];
  let friends = [];
  try {
    [requests, friends] = await Promise.all([
      client.api.get("/friends/requests").then((d) => d.items),
      client.api.get("/friends").then((d) => d.items),
    ]);
  } catch (error) {
    fill(pane, h("p.muted-text", null, errorText(error)));
    return;
  }
  client.rememberUsers(friends);
  const ids = new Set(requests.flatMap((r) => [r.from, r.to]));
  await Promise.all(Array.from(ids).map((id) => client.getUser(id)));
  client.refreshPresence(friends.map((f) => f.id));
  const redraw = () => renderContacts(pane, ctx);
  const incoming = requests.filter((r) => r.direction === "in" && r.status === "pending");
  const outgoing = requests.filter((r) => r.direction === "out" && r.status === "pending");
  if (ctx.setRequests) ctx.setRequests(incoming.length);
  const act = async (request, verb) => {
    try {
      await client.api.post(`/friends/requests/${encodeURIComponent(request.id)}/${verb}`);
      redraw();
    } catch (error) {
      fail(error);
    }
  };
  const requestRow = (request, other, buttons) => {
    const user = client.users.get(other) || { id: other, username: "", display_name: client.userName(other) };
    return h(
      "li.person",
      null,
      avatar(user.display_name || user.username, user.id, user.avatar),
      h("span.person-text", null, h("span.person-name", null, user.display_name || user.username), h("span.person-sub", null, request.note || `@${user.username}`)),
      h("span.person-actions", null, buttons),
    );
  };
  fill(pane, 
    incoming.length || outgoing.length ? h("h3.section-title", null, t("requests")) : null,
    h(
      "ul.people-list",
      { role: "list" },
      incoming.map((r) =>
        requestRow(r, r.from, [
          h("button.btn.small.primary", { type: "button", onclick: () => act(r, "accept") }, t("accept")),
          h("button.btn.small", { type: "button", onclick: () => act(r, "decline") }, t("decline")),
        ]),
      ),
      outgoing.map((r) => requestRow(r, r.to, h("span.pill", null, t("pending")))),
    ),
    h("h3.section-title", null, t("friends")),
    friends.length
      ? h("ul.people-list.friends-list", { role: "list", "aria-label": t("friends") }, friends.map((user) => ctx.personRow(user)))
      : h("p.muted-text", null, t("no_friends")),
  );
}

/** Where we stand with `userId`: "friend", "sent" (our request is pending) or "none". */
async function friendship(client, userId) {
  try {
    const [friends, requests] = await Promise.all([client.api.get("/friends"), client.api.get("/friends/requests")]);
    if (friends.items.some((u) => u.id === userId)) return "friend";
    const sent = requests.items.some((r) => r.direction === "out" && r.status === "pending" && r.to === userId);
    return sent ? "sent" : "none";
  } catch {
    return "none";
  }
}

/** "Add friend", or a disabled "Request sent" / "Friends" once there is nothing to do. */
async function friendButton(client, userId) {
  const button = h("button.btn.friend-btn", { type: "button" });
  const show = (state) => {
    button.dataset.state = state;
    button.disabled = state !== "none";
    const label = { none: t("add_friend"), sent: t("friend_request_sent"), friend: t("already_friends") }[state];
    button.replaceChildren(icon(state === "none" ? "userPlus" : "check", { size: 18 }), label);
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await client.api.post("/friends/requests", { user_id: userId });
      show("sent");
      toast(t("friend_request_sent"));
    } catch (error) {
      button.disabled = false;
      fail(error);
    }
  });
  show(await friendship(client, userId));
  return button;
}

/** A person's card: message them, befriend, block. */
export function openProfile(ctx, userId) {
  const client = ctx.client;
  openDialog({
    title: () => t("user_profile"),
    cls: "small",
    async build(body, close) {
      const user = (await client.getUser(userId)) || { id: userId, username: "?", display_name: "?" };
      const presence = client.presence.get(userId);
      const name = user.display_name || user.username;
      const actions = h("div.profile-actions");
      actions.append(
        h("button.btn.primary", {
          type: "button",
          onclick: async () => {
            try {
              const conv = await client.openDirect(userId);
              close();
              ctx.openConv(conv.id);
            } catch (error) {
              fail(error);
            }
          },
        }, icon("chat", { size: 18 }), t("start_chat")),
      );
      if (client.has("friends") && userId !== client.me.id) actions.append(await friendButton(client, userId));
      if (client.has("blocks")) {
        let blocked = false;
        try {
          const list = await client.api.get("/blocks");
          blocked = list.items.some((u) => u.id === userId);
        } catch {
          blocked = false;
        }
        const button = h("button.btn.danger-outline", { type: "button" }, icon("block", { size: 18 }), blocked ? t("unblock") : t("block"));
        button.addEventListener("click", async () => {
          if (!blocked && !(await confirmDialog(() => `${t("block")} ${name}?`, { ok: () => t("block"), danger: true }))) return;
          try {
            if (blocked) await client.api.delete(`/blocks/${encodeURIComponent(userId)}`);
            else await client.api.put(`/blocks/${encodeURIComponent(userId)}`);
            blocked = !blocked;
            button.replaceChildren(icon("block", { size: 18 }), blocked ? t("unblock") : t("block"));
          } catch (error) {
            fail(error);
          }
        });
        actions.append(button);
      }
      body.append(
        h(
          "div.profile",
          null,
          avatar(name, user.id, user.avatar, { size: "large", online: presence ? !!presence.online : null }),
          h("h3", null, name),
          h("p.muted-text", null, `@${user.username}`),
          presence ? h("p.presence-text", null, presence.online ? t("online") : presence.last_seen ? t("last_seen", { when: formatAgo(presence.last_seen) }) : t("offline_status")) : null,
          actions,
        ),
      );
      const first = actions.querySelector("button");
      if (first) first.focus();
    },
  });
}
