// Sign in / create account. Errors are the server's own words (translated when we know the code).

import { h, fill } from "../dom.js";
import { t, errorText, onLangChange } from "../i18n.js";
import { prefsBar } from "./prefs.js";

export function renderLogin(root, api, onSignedIn, notice = "") {
  let mode = "login";
  let error = notice ? { message: notice } : null; // kept raw, so a language switch re-translates
  let busy = false;
  const values = { username: "", password: "", display_name: "" };

  function describe(failure) {
    if (failure.key) {
      const vars = failure.vars ? { field: t(failure.vars.field) } : undefined;
      return t(failure.key, vars);
    }
    return errorText(failure);
  }

  function field(name, type, label, hint, autocomplete) {
    const id = `f-${name}`;
    const input = h("input", {
      id,
      name,
      type,
      value: values[name],
      autocomplete,
      "aria-describedby": hint ? `${id}-hint` : undefined,
      "aria-invalid": error && error.key === "required" && error.vars.field === name ? "true" : undefined,
      oninput: (event) => {
        values[name] = event.target.value;
        // "Please fill in …" is about this field: it is out of date as soon as the field is filled.
        if (error && error.key === "required" && error.vars.field === name && event.target.value.trim()) {
          error = null;
          event.target.removeAttribute("aria-invalid");
          const stale = root.querySelector(".form-error");
          if (stale) stale.remove();
        }
      },
    });
    return h(
      "div.field",
      null,
      h("label", { for: id }, label),
      input,
      hint ? h("small.hint", { id: `${id}-hint` }, hint) : null,
    );
  }

  async function submit(event) {
    event.preventDefault();
    if (busy) return;
    const missing = !values.username.trim() ? t("username") : !values.password ? t("password") : null;
    if (missing) {
      error = { key: "required", vars: { field: missing === t("username") ? "username" : "password" } };
      draw();
      root.querySelector(values.username.trim() ? "#f-password" : "#f-username").focus();
      return;
    }
    busy = true;
    error = null;
    draw();
    try {
      if (mode === "login") await api.login(values.username.trim(), values.password);
      else await api.register(values.username.trim(), values.password, values.display_name.trim());
      unsubscribe();
      onSignedIn();
      return;
    } catch (failure) {
      error = failure.status === 0 ? { key: "network_error" } : failure;
    }
    busy = false;
    draw();
    const alert = root.querySelector(".form-error");
    if (alert) alert.focus();
  }

  function draw() {
    const register = mode === "register";
    const form = h(
      "form.login-form",
      { onsubmit: submit, novalidate: true, "aria-label": register ? t("sign_up") : t("sign_in") },
      h("h2", null, register ? t("sign_up") : t("sign_in")),
      error ? h("div.form-error", { role: "alert", tabindex: "-1" }, describe(error)) : null,
      field("username", "text", t("username"), register ? t("username_hint") : null, "username"),
      field("password", "password", t("password"), register ? t("password_hint") : null, register ? "new-password" : "current-password"),
      register ? field("display_name", "text", t("display_name_optional"), null, "nickname") : null,
      h("button.btn.primary.block", { type: "submit", disabled: busy }, busy ? t("loading") : register ? t("sign_up") : t("sign_in")),
      h(
        "p.switch",
        null,
        register ? t("have_account") : t("no_account"),
        " ",
        h(
          "button.link",
          {
            type: "button",
            onclick: () => {
              mode = register ? "login" : "register";
              error = null;
              draw();
              root.querySelector("#f-username").focus();
            },
          },
          register ? t("sign_in") : t("sign_up"),
        ),
      ),
    );
    fill(root, 
      h(
        "div.login-screen",
        null,
        h(
          "div.login-card",
          null,
          h("div.brand", null, h("img.logo", { src: "/static/icon.svg", alt: "", width: 56, height: 56 }), h("h1", null, t("app_name")), h("p.tagline", null, t("tagline"))),
          form,
          prefsBar(),
        ),
      ),
    );
  }

  const unsubscribe = onLangChange(() => {
    if (root.isConnected) draw();
  });
  draw();
  const first = root.querySelector("#f-username");
  if (first) first.focus();
}
