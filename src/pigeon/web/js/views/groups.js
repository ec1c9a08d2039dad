// Groups and channels: create, the public room directory, details with members and roles.

import { h, clear, avatar, debounce, fill } from "../dom.js";
import { t, errorText } from "../i18n.js";
import { icon } from "../icons.js";
import { openDialog, toast, confirmDialog } from "./dialogs.js";

function fail(error) {
  toast(t("something_wrong", { msg: errorText(error) }), "error");
}

function enc(id) {
  return encodeURIComponent(id);
}

/** Fetch the full conversation entry for a group we just created or joined, then open it. */
async function adoptAndOpen(ctx, groupId) {
  await ctx.client.loadConversations();
  ctx.openConv(groupId);
}

export function renderRooms(pane, ctx) {
  const client = ctx.client;
  const list = h("ul.people-list", { role: "list", "aria-label": t("directory") });
  const search = async (query) => {
    try {
      const data = await client.api.get(`/groups?q=${enc(query)}`);
      fill(list, 
        ...(data.items.length
          ? data.items.map((group) => roomRow(ctx, group))
          : [h("li.muted-text", null, t("no_rooms"))]),
      );
    } catch (error) {
      fill(list, h("li.muted-text", null, errorText(error)));
    }
  };
  const run = debounce((value) => search(value), 250);
  fill(pane, 
    h("button.btn.primary.block.new-group", { type: "button", onclick: () => ctx.newGroup() }, icon("plus", { size: 18 }), t("new_group")),
    h("h3.section-title", null, t("directory")),
    h("input.search-input.inline", {
      type: "search",
      placeholder: t("directory_search"),
      "aria-label": t("directory_search"),
      oninput: (event) => run(event.target.value.trim()),
    }),
    list,
  );
  search("");
}

function roomRow(ctx, group) {
  const joined = ctx.client.convs.has(group.id);
  return h(
    "li.person",
    null,
    avatar(group.title, group.id, group.avatar),
    h("span.person-text", null, h("span.person-name", null, group.title), h("span.person-sub", null, group.announcement || t("members_count", { n: group.member_count }))),
    h(
      "span.person-actions",
      null,
      joined
        ? h("button.btn.small", { type: "button", onclick: () => ctx.openConv(group.id) }, t("start_chat"))
        : h("button.btn.small.primary", {
            type: "button",
            onclick: async () => {
              try {
                await ctx.client.api.post(`/groups/${enc(group.id)}/join`);
                await adoptAndOpen(ctx, group.id);
              } catch (error) {
                fail(error);
              }
            },
          }, t("join")),
    ),
  );
}

/** A small people picker: search, click to add as a chip. */
function peoplePicker(client, chosen, onChange) {
  const chips = h("div.chips");
  const results = h("ul.people-list.compact", { role: "list" });
  const drawChips = () => {
    fill(chips, 
      ...Array.from(chosen.values()).map((user) =>
        h("button.chip", {
          type: "button",
          "aria-label": `${t("remove")} ${user.display_name || user.username}`,
          onclick: () => {
            chosen.delete(user.id);
            drawChips();
            onChange();
          },
        }, user.display_name || user.username, icon("close", { size: 12 })),
      ),
    );
  };
  const search = debounce(async (query) => {
    if (!query) {
      clear(results);
      return;
    }
    try {
      const data = await client.api.get(`/users?q=${enc(query)}&limit=8`);
      fill(results, 
        ...data.items
          .filter((u) => u.id !== client.me.id && !chosen.has(u.id))
          .map((user) =>
            h("li", null, h("button.person.pick", {
              type: "button",
              onclick: () => {
                chosen.set(user.id, user);
                drawChips();
                onChange();
                clear(results);
                input.value = "";
                input.focus();
              },
            }, avatar(user.display_name || user.username, user.id, user.avatar, { size: "small" }), h("span.person-name", null, user.display_name || user.username), h("span.person-sub", null, `@${user.username}`))),
          ),
      );
    } catch (error) {
      fill(results, h("li.muted-text", null, errorText(error)));
    }
  }, 250);
  const input = h("input", { type: "search", placeholder: t("search_placeholder"), "aria-label": t("add_members"), oninput: (event) => search(event.target.value.trim()) });
  return h("div.picker", null, chips, input, results);
}

export function newGroupDialog(ctx) {
  const client = ctx.client;
  const chosen = new Map();
  openDialog({
    title: () => t("new_group"),
    build(body, close) {
      const error = h("div.form-error", { role: "alert", hidden: true });
      const title = h("input", {
        id: "group-title",
        name: "title",
        required: true,
        maxlength: 100,
        autofocus: true,
        // The "please fill in" message is out of date once there is a title.
        oninput: () => {
          if (title.value.trim() && error.dataset.kind === "required") {
            error.hidden = true;
            title.removeAttribute("aria-invalid");
          }
        },
      });
      const visibility = h("select", { id: "group-visibility" }, h("option", { value: "private" }, t("private")), h("option", { value: "public" }, t("public")));
      const kind = h("select", { id: "group-kind" }, h("option", { value: "group" }, t("kind_group")), h("option", { value: "channel" }, t("kind_channel")));
      const submit = async (event) => {
        event.preventDefault();
        if (!title.value.trim()) {
          error.hidden = false;
          error.dataset.kind = "required";
          error.textContent = t("required", { field: t("group_title") });
          title.setAttribute("aria-invalid", "true");
          title.focus();
          return;
        }
        try {
          const group = await client.api.post("/groups", {
            title: title.value.trim(),
            members: Array.from(chosen.keys()),
            visibility: visibility.value,
            kind: kind.value,
          });
          close();
          await adoptAndOpen(ctx, group.id);
        } catch (failure) {
          error.hidden = false;
          error.dataset.kind = "server";
          error.textContent = errorText(failure);
        }
      };
      body.append(
        h(
          "form.stack",
          { onsubmit: submit, novalidate: true },
          error,
          h("div.field", null, h("label", { for: "group-title" }, t("group_title")), title),
          h("div.field-row", null,
            h("div.field", null, h("label", { for: "group-visibility" }, t("visibility")), visibility),
            h("div.field", null, h("label", { for: "group-kind" }, t("kind")), kind)),
          h("div.field", null, h("label", null, t("add_members")), peoplePicker(client, chosen, () => {})),
          h("div.dialog-actions", null,
            h("button.btn", { type: "button", onclick: () => close() }, t("cancel")),
            h("button.btn.primary", { type: "submit" }, t("create"))),
        ),
      );
    },
  });
}

/** Details of a group: title, announcement, who is online, members with their roles. */
export function groupInfoDialog(ctx, convId, chat) {
  const client = ctx.client;
  openDialog({
    title: () => t("info"),
    wide: true,
    build(body, close) {
      const draw = async () => {
        let group;
        let members = [];
        let online = [];
        try {
          [group, members, online] = await Promise.all([
            client.api.get(`/groups/${enc(convId)}`),
            client.api.get(`/groups/${enc(convId)}/members`).then((d) => d.items),
            client.api.get(`/groups/${enc(convId)}/online`).then((d) => d.items).catch(() => []),
          ]);
        } catch (error) {
          fill(body, h("p.muted-text", null, errorText(error)));
          return;
        }
        client.rememberUsers(members.map((m) => m.user));
        const mine = members.find((m) => m.user.id === client.me.id);
        const role = mine ? mine.role : "member";
        const admin = role === "owner" || role === "admin";
        const onlineIds = new Set(online.map((u) => u.id));
        const memberAction = async (method, path, payload) => {
          try {
            await client.api.request(method, path, payload);
            if (chat) chat.loadMembers();
            draw();
          } catch (error) {
            fail(error);
          }
        };
        const announcement = h("textarea", { id: "group-announcement", rows: 2, readonly: !admin, value: group.announcement || "" });
        const titleInput = h("input", { id: "group-name", value: group.title || "", readonly: !admin });
        const saveButton = admin
          ? h("button.btn.small", {
              type: "button",
              onclick: () => memberAction("PATCH", `/groups/${enc(convId)}`, { title: titleInput.value.trim(), announcement: announcement.value }),
            }, t("save"))
          : null;
        const memberRow = (member) => {
          const user = member.user;
          const name = user.display_name || user.username;
          const self = user.id === client.me.id;
          const buttons = [];
          if (!self && role === "owner" && member.role !== "owner") {
            buttons.push(h("button.btn.small", {
              type: "button",
              onclick: () => memberAction("PATCH", `/groups/${enc(convId)}/members/${enc(user.id)}`, { role: member.role === "admin" ? "member" : "admin" }),
            }, member.role === "admin" ? t("remove_admin") : t("make_admin")));
            buttons.push(h("button.btn.small", {
              type: "button",
              onclick: async () => {
                if (await confirmDialog(() => t("confirm_transfer", { name }), { ok: () => t("transfer") })) memberAction("POST", `/groups/${enc(convId)}/transfer`, { user_id: user.id });
              },
            }, t("transfer")));
          }
          if (!self && admin && member.role === "member" || !self && role === "owner" && member.role === "admin") {
            buttons.push(h("button.btn.small.danger-outline", {
              type: "button",
              onclick: () => memberAction("DELETE", `/groups/${enc(convId)}/members/${enc(user.id)}`),
            }, t("remove")));
          }
          return h(
            "li.person",
            { dataset: { user: user.id } },
            avatar(name, user.id, user.avatar, { online: onlineIds.has(user.id) }),
            h("span.person-text", null, h("span.person-name", null, name, self ? ` (${t("you")})` : ""), h("span.person-sub", null, `@${user.username}`)),
            member.role !== "member" ? h(`span.pill.role-${member.role}`, null, t(`role_${member.role}`)) : null,
            buttons.length ? h("span.person-actions", null, buttons) : null,
          );
        };
        const chosen = new Map();
        const addButton = h("button.btn.small.primary", {
          type: "button",
          onclick: () => {
            if (chosen.size) memberAction("POST", `/groups/${enc(convId)}/members`, { user_ids: Array.from(chosen.keys()) });
          },
        }, t("add_members"));
        fill(body, 
          h("div.group-head", null,
            avatar(group.title, group.id, group.avatar, { size: "large" }),
            h("div", null, h("h3", null, group.title), h("p.muted-text", null,
              `${t(group.kind === "channel" ? "kind_channel" : "kind_group")} · ${group.visibility === "public" ? t("public") : t("private")} · ${t("members_count", { n: group.member_count })}`))),
          h("div.field", null, h("label", { for: "group-name" }, t("group_title")), titleInput),
          h("div.field", null, h("label", { for: "group-announcement" }, t("announcement")), announcement),
          saveButton,
          h("h3.section-title", null, `${t("online_now")} (${online.length})`),
          online.length
            ? h("div.online-strip", null, online.map((u) => h("span.online-user", { title: u.display_name || u.username }, avatar(u.display_name || u.username, u.id, u.avatar, { online: true, size: "small" }), h("span", null, u.display_name || u.username))))
            : h("p.muted-text", null, t("nobody_online")),
          h("h3.section-title", null, `${t("members")} (${members.length})`),
          admin ? h("div.add-members", null, peoplePicker(client, chosen, () => {}), addButton) : null,
          h("ul.people-list", { role: "list", "aria-label": t("members") }, members.map(memberRow)),
          h("div.dialog-actions", null,
            role === "owner"
              ? h("button.btn.danger", {
                  type: "button",
                  onclick: async () => {
                    if (!(await confirmDialog(() => t("confirm_dissolve"), { ok: () => t("dissolve_group"), danger: true }))) return;
                    try {
                      await client.api.delete(`/groups/${enc(convId)}`);
                      close();
                      client.removeConversation(convId);
                    } catch (error) {
                      fail(error);
                    }
                  },
                }, icon("trash", { size: 18 }), t("dissolve_group"))
              : h("button.btn.danger-outline", {
                  type: "button",
                  onclick: async () => {
                    if (!(await confirmDialog(() => t("confirm_leave"), { ok: () => t("leave_group"), danger: true }))) return;
                    try {
                      await client.api.post(`/groups/${enc(convId)}/leave`);
                      close();
                      client.removeConversation(convId);
                    } catch (error) {
                      fail(error);
                    }
                  },
                }, icon("logout", { size: 18 }), t("leave_group")),
          ),
        );
      };
      fill(body, h("p.muted-text", null, t("loading")));
      draw();
    },
  });
}
