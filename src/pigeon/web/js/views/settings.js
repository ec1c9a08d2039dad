// Settings: profile, language, theme, notifications, devices, blocked users, your data
// and account, sign out.

import { h, avatar, fill } from "../dom.js";
import { t, errorText, formatAgo } from "../i18n.js";
import { icon } from "../icons.js";
import { openDialog, toast, confirmDialog } from "./dialogs.js";
import { deviceTitle } from "../devicename.js";
import { languageSelect, themeSelect } from "./prefs.js";
import { notificationsEnabled, setNotifications } from "../notify.js";
import { pushSection } from "./pushprefs.js";

export function settingsDialog(ctx) {
  const client = ctx.client;
  openDialog({
    title: () => t("settings"),
    wide: true,
    build(body, close) {
      const me = client.me;
      const nameInput = h("input", { id: "profile-name", value: me.display_name || "", maxlength: 64 });
      const saveName = async (event) => {
        event.preventDefault();
        try {
          const updated = await client.api.patch("/users/me", { display_name: nameInput.value.trim() });
          Object.assign(client.me, updated);
          client.users.set(updated.id, client.me);
          ctx.refreshAll();
          toast(t("save"));
        } catch (error) {
          toast(t("something_wrong", { msg: errorText(error) }), "error");
        }
      };
      const notifyBox = h("input", {
        type: "checkbox",
        id: "notify-toggle",
        checked: notificationsEnabled(),
        onchange: async (event) => {
          const ok = await setNotifications(event.target.checked);
          event.target.checked = ok && event.target.checked;
          if (!ok && event.target.checked === false && "Notification" in window && Notification.permission === "denied") {
            toast(t("notifications_denied"), "error");
          }
        },
      });
      const devices = h("ul.people-list", { role: "list", "aria-label": t("devices") }, h("li.muted-text", null, t("loading")));
      const blocked = h("ul.people-list", { role: "list", "aria-label": t("blocked_users") });
      body.append(
        h("section.settings-section", null,
          h("div.profile-row", null, avatar(me.display_name || me.username, me.id, me.avatar, { size: "large" }),
            h("div", null, h("h3", null, me.display_name || me.username), h("p.muted-text", null, `@${me.username}`))),
          h("form.inline-form", { onsubmit: saveName },
            h("div.field", null, h("label", { for: "profile-name" }, t("display_name")), nameInput),
            h("button.btn", { type: "submit" }, t("save")))),
        h("section.settings-section", null,
          h("div.field-row", null,
            h("div.field", null, h("label", null, t("language")), languageSelect()),
            h("div.field", null, h("label", null, t("theme")), themeSelect())),
          h("label.check", { for: "notify-toggle" }, notifyBox, h("span", null, h("strong", null, t("notifications")), h("small.hint", null, t("notifications_hint"))))),
        client.has("offline-push") ? pushSection(client) : null,
        h("section.settings-section", null, h("h3.section-title", null, t("devices")), devices),
        client.has("blocks") ? h("section.settings-section", null, h("h3.section-title", null, t("blocked_users")), blocked) : null,
        accountSection(ctx, close),
        h("div.dialog-actions", null,
          h("button.btn.danger-outline.logout", { type: "button", onclick: () => confirmLogout(ctx, close) }, icon("logout", { size: 18 }), t("log_out"))),
      );
      loadDevices(client, devices);
      if (client.has("blocks")) loadBlocked(client, blocked);
    },
  });
}

/** Download my data, delete my account (docs/protocol.md, "Deleting an account"). */
function accountSection(ctx, close) {
  const client = ctx.client;
  if (!client.has("data-export") && !client.has("account-deletion")) return null;
  return h("section.settings-section.account-section", null,
    h("h3.section-title", null, t("account")),
    client.has("data-export") ? h("div.account-row", null,
      h("button.btn.download-data", { type: "button", onclick: (event) => downloadData(client, event.currentTarget) }, t("download_data")),
      h("small.hint", null, t("download_data_hint"))) : null,
    client.has("account-deletion") ? h("div.account-row", null,
      h("button.btn.danger-outline.delete-account", { type: "button", onclick: () => deleteAccountDialog(ctx, close) }, t("delete_account")),
      h("small.hint", null, t("delete_account_hint"))) : null);
}

async function downloadData(client, button) {
  button.disabled = true;
  toast(t("preparing_export"));
  try {
    const bytes = await client.api.exportData();
    const url = URL.createObjectURL(new Blob([bytes], { type: "application/zip" }));
    const link = h("a", { href: url, download: `pigeon-${client.me.username}.zip` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    toast(t("export_ready"));
  } catch (error) {
    toast(t("something_wrong", { msg: errorText(error) }), "error");
  } finally {
    button.disabled = false;
  }
}

function deleteAccountDialog(ctx, closeSettings) {
  openDialog({
    title: () => t("delete_account"),
    cls: "small.delete-account-dialog",
    build(body, close) {
      const password = h("input", { id: "delete-password", type: "password", autocomplete: "current-password", required: true });
      const problem = h("p.form-error", { role: "alert", hidden: true });
      const submit = async (event) => {
        event.preventDefault();
        if (!password.value) return;
        const button = event.currentTarget.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          await ctx.client.api.deleteAccount(password.value);
        } catch (error) {
          problem.textContent = errorText(error);
          problem.hidden = false;
          button.disabled = false;
          password.select();
          return;
        }
        close();
        closeSettings();
        ctx.accountDeleted();
      };
      body.append(
        h("form.delete-account-form", { onsubmit: submit },
          h("p.confirm-detail", null, t("delete_account_confirm")),
          h("div.field", null, h("label", { for: "delete-password" }, t("password")), password),
          problem,
          h("div.dialog-actions", null,
            h("button.btn", { type: "button", onclick: () => close() }, t("cancel")),
            h("button.btn.danger", { type: "submit" }, t("delete_account_button")))));
      password.focus();
    },
  });
}

async function confirmLogout(ctx, close) {
  if (!(await confirmDialog(() => t("confirm_logout"), { ok: () => t("log_out"), danger: true }))) return;
  close();
  ctx.logout();
}

/** Most recently active first, this browser at the top. */
function deviceOrder(mine) {
  return (a, b) => (b.device === mine) - (a.device === mine) || (b.online ? 1 : 0) - (a.online ? 1 : 0) || (b.last_seen || 0) - (a.last_seen || 0);
}

async function loadDevices(client, list) {
  try {
    const data = await client.api.get("/users/me/devices");
    const mine = client.api.auth ? client.api.auth.device : null;
    fill(list, 
      ...data.items.sort(deviceOrder(mine)).map((item) =>
        h("li.person.device", { dataset: { device: item.device }, title: item.device },
          h("span.file-icon", null, icon("globe", { size: 20 })),
          h("span.person-text", null,
            h("span.person-name", null, h("span.device-name", null, deviceTitle(item.device)),
              item.device === mine ? h("span.pill.this-device", null, t("this_device")) : null),
            h("span.person-sub", null, item.online ? t("device_online") : item.last_seen ? t("last_seen", { when: formatAgo(item.last_seen) }) : "")),
          item.device !== mine
            ? h("button.btn.small", {
                type: "button",
                onclick: async () => {
                  try {
                    await client.api.delete(`/users/me/devices/${encodeURIComponent(item.device)}`);
                    loadDevices(client, list);
                  } catch (error) {
                    toast(t("something_wrong", { msg: errorText(error) }), "error");
                  }
                },
              }, t("revoke"))
            : null),
      ),
    );
  } catch (error) {
    fill(list, h("li.muted-text", null, errorText(error)));
  }
}

async function loadBlocked(client, list) {
  try {
    const data = await client.api.get("/blocks");
    fill(list, 
      ...(data.items.length ? data.items.map((user) =>
        h("li.person", null,
          avatar(user.display_name || user.username, user.id, user.avatar),
          h("span.person-text", null, h("span.person-name", null, user.display_name || user.username), h("span.person-sub", null, `@${user.username}`)),
          h("button.btn.small", {
            type: "button",
            onclick: async () => {
              await client.api.delete(`/blocks/${encodeURIComponent(user.id)}`).catch(() => {});
              loadBlocked(client, list);
            },
          }, t("unblock")))) : [h("li.muted-text", null, "—")]),
    );
  } catch (error) {
    fill(list, h("li.muted-text", null, errorText(error)));
  }
}
