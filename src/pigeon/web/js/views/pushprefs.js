// Settings section "When you are offline": Web Push for this browser and the server-side
// notification preferences (enabled, message text, do-not-disturb window).

import { h } from "../dom.js";
import { t, errorText } from "../i18n.js";
import { toast } from "./dialogs.js";
import {
  pushSupported, pushSubscribed, subscribePush, unsubscribePush,
  getPreferences, savePreferences, localTimeZone,
} from "../push.js";

function checkbox(id, label, hint, onchange) {
  const box = h("input", { type: "checkbox", id, onchange });
  const row = h("label.check", { for: id }, box, h("span", null, h("strong", null, label), h("small.hint", null, hint)));
  return [box, row];
}

export function pushSection(client) {
  const api = client.api;
  const save = async (changes) => {
    try {
      await savePreferences(api, changes);
      toast(t("save"));
    } catch (error) {
      toast(t("something_wrong", { msg: errorText(error) }), "error");
      load();
    }
  };
  const [browserBox, browserRow] = checkbox("push-browser", t("push_browser"), t("push_browser_hint"), async (event) => {
    const on = event.target.checked;
    try {
      if (on) await subscribePush(api, client.config);
      else await unsubscribePush(api);
    } catch (error) {
      event.target.checked = false;
      toast(error && error.message === "denied" ? t("notifications_denied") : t("push_unavailable"), "error");
    }
  });
  const [enabledBox, enabledRow] = checkbox("push-enabled", t("push_enabled"), t("push_enabled_hint"),
    (event) => save({ enabled: event.target.checked }));
  const [previewBox, previewRow] = checkbox("push-preview", t("push_preview"), t("push_preview_hint"),
    (event) => save({ preview: event.target.checked }));
  const zone = localTimeZone();
  const start = h("input", { type: "time", id: "dnd-start", value: "22:00" });
  const end = h("input", { type: "time", id: "dnd-end", value: "07:00" });
  const saveWindow = () => save(dndBox.checked
    ? { dnd: { start: start.value, end: end.value }, time_zone: zone }
    : { dnd: null });
  const [dndBox, dndRow] = checkbox("dnd-toggle", t("dnd"), t("dnd_hint", { zone }), saveWindow);
  start.addEventListener("change", () => dndBox.checked && saveWindow());
  end.addEventListener("change", () => dndBox.checked && saveWindow());

  browserBox.checked = pushSubscribed();
  browserBox.disabled = !pushSupported(client.config);
  async function load() {
    try {
      const prefs = await getPreferences(api);
      enabledBox.checked = prefs.enabled;
      previewBox.checked = prefs.preview;
      dndBox.checked = Boolean(prefs.dnd);
      if (prefs.dnd) {
        start.value = prefs.dnd.start;
        end.value = prefs.dnd.end;
      }
    } catch (error) {
      toast(t("something_wrong", { msg: errorText(error) }), "error");
    }
  }
  load();
  return h("section.settings-section.push-prefs", null,
    h("h3.section-title", null, t("offline_push")),
    browserRow, enabledRow, previewRow, dndRow,
    h("div.field-row", null,
      h("div.field", null, h("label", { for: "dnd-start" }, t("dnd_from")), start),
      h("div.field", null, h("label", { for: "dnd-end" }, t("dnd_to")), end)));
}
