// Reactions and pinned messages in the open conversation: the chips under a message (click
// to toggle), the small picker of common emojis, the pin action, and the pinned bar above
// the log. Methods of ChatView (installed on its prototype), like messagerow.js.

import { h, fill } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { previewText } from "./preview.js";

/** The picker's emojis: the ones people reach for most. */
export const QUICK_EMOJIS = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

export const reactionMethods = {
  _reactionChips(m) {
    const list = m.reactions || [];
    if (!list.length || m.recalled) return null;
    return h(
      "div.reactions",
      { role: "group", "aria-label": t("reactions") },
      list.map((r) =>
        h(
          `button.reaction${r.mine ? ".mine" : ""}`,
          {
            type: "button",
            "aria-pressed": String(!!r.mine),
            "aria-label": t(r.mine ? "reaction_mine" : "reaction_other", { emoji: r.emoji, n: r.count }),
            dataset: { emoji: r.emoji },
            onclick: () => this.client.react(this.convId, m.seq, r.emoji),
          },
          h("span.reaction-emoji", null, r.emoji),
          h("span.reaction-count", null, String(r.count)),
        ),
      ),
    );
  },

  /** The buttons a message gets for reacting and pinning (added to its actions). */
  _markButtons(m) {
    const buttons = [];
    if (this.client.has("reactions")) {
      buttons.push(h("button.icon-btn.small.react-btn", {
        type: "button", "aria-label": t("react"), title: t("react"), "aria-haspopup": "true",
        onclick: (event) => this._openPicker(m, event.currentTarget),
      }, icon("smile", { size: 16 })));
    }
    const conv = this.conv;
    if (this.client.has("pins") && conv && (conv.kind === "direct" || this.isAdmin())) {
      const pinned = this.client.pinsOf(this.convId).some((p) => p.seq === m.seq);
      buttons.push(h("button.icon-btn.small.pin-msg-btn", {
        type: "button",
        "aria-label": pinned ? t("unpin_message") : t("pin_message"),
        title: pinned ? t("unpin_message") : t("pin_message"),
        onclick: () => (pinned ? this.client.unpin(this.convId, m.seq) : this.client.pin(this.convId, m.seq)),
      }, icon("pin", { size: 16 })));
    }
    return buttons;
  },

  _openPicker(m, anchor) {
    this._closePicker();
    const picker = h(
      "div.emoji-picker",
      { role: "menu", "aria-label": t("react") },
      QUICK_EMOJIS.map((emoji) =>
        h("button.emoji-choice", {
          type: "button", role: "menuitem", "aria-label": emoji, dataset: { emoji },
          onclick: () => {
            this._closePicker();
            this.client.react(this.convId, m.seq, emoji);
          },
        }, emoji),
      ),
    );
    const row = anchor.closest(".row");
    (row || this.inner).append(picker);
    this._picker = picker;
    const first = picker.querySelector("button");
    if (first) first.focus();
    this._pickerAway = (event) => {
      if (event.type === "keydown" && event.key !== "Escape") return;
      if (event.type === "pointerdown" && picker.contains(event.target)) return;
      this._closePicker();
    };
    setTimeout(() => {
      document.addEventListener("pointerdown", this._pickerAway);
      document.addEventListener("keydown", this._pickerAway);
    });
  },

  _closePicker() {
    if (this._picker) this._picker.remove();
    this._picker = null;
    if (this._pickerAway) {
      document.removeEventListener("pointerdown", this._pickerAway);
      document.removeEventListener("keydown", this._pickerAway);
      this._pickerAway = null;
    }
  },

  async _loadPins() {
    if (!this.client.has("pins")) return;
    try {
      await this.client.loadPins(this.convId);
    } catch {
      // No bar is no loss: the pin entries still show in the log.
    }
  },

  /** The bar above the log: the newest pin (or the one cycled to), click to jump and move on. */
  _drawPins() {
    if (!this.pinsEl) return;
    const pins = this.client.pinsOf(this.convId);
    if (!pins.length) {
      this.pinsEl.hidden = true;
      fill(this.pinsEl);
      return;
    }
    this.pinIndex = (this.pinIndex || 0) % pins.length;
    const pin = pins[this.pinIndex];
    const timeline = this.client.timeline(this.convId);
    const message = timeline.get(pin.seq) || pin.message;
    this.pinsEl.hidden = false;
    const canUnpin = this.conv && (this.conv.kind === "direct" || this.isAdmin());
    fill(
      this.pinsEl,
      h(
        "button.pinned-open",
        {
          type: "button",
          "aria-label": t("pinned_jump", { i: this.pinIndex + 1, n: pins.length }),
          onclick: () => {
            this.revealSeq(pin.seq);
            this.pinIndex = (this.pinIndex + 1) % pins.length;
            this._drawPins();
          },
        },
        icon("pin", { size: 16 }),
        h("span.pinned-label", null, pins.length > 1 ? t("pinned_n", { i: this.pinIndex + 1, n: pins.length }) : t("pinned_message")),
        h("span.pinned-text", null, previewText(this.client, message)),
      ),
      canUnpin
        ? h("button.icon-btn.small.pinned-unpin", {
            type: "button", "aria-label": t("unpin_message"), title: t("unpin_message"),
            onclick: () => this.client.unpin(this.convId, pin.seq),
          }, icon("close", { size: 14 }))
        : null,
    );
  },
};
