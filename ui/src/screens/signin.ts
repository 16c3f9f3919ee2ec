// Connect and sign in; or unlock when the data on this computer is locked.
import type { AppInfo } from "../bindings/AppInfo";
import type { IpcError } from "../bindings/IpcError";
import { h, field } from "../dom";
import { call } from "../ipc";

function messageFor(err: IpcError): string {
  switch (err.code) {
    case "offline":
      return "The hub cannot be reached, and this computer has no data for this sign-in yet.";
    case "wrong_password":
      return "The password is not correct.";
    case "offline_grant_expired":
      return "Offline access has expired: connect to the hub to sign in.";
    case "tls_untrusted":
      return "The hub's certificate is not trusted by this computer. If your organisation runs its own certificate authority, enter the path of its certificate file (PEM, from your IT department) below and sign in again.";
    case "insecure_hub_url":
      return "Use the hub's https:// address: plain http:// is only for a hub on this computer.";
    default:
      return err.message;
  }
}

export function signInScreen(info: AppInfo, done: (offline: boolean) => void): HTMLElement {
  const p = info.profile;
  const hub = h("input", { type: "url", value: p?.hub ?? info.suggested_hub ?? "", required: true, autocomplete: "url" });
  const tenant = h("input", { type: "text", value: p?.tenant ?? "", autocomplete: "organization" });
  const email = h("input", { type: "email", value: p?.email ?? "", required: true, autocomplete: "username" });
  const password = h("input", { type: "password", required: true, autocomplete: "current-password" });
  const caFile = h("input", { type: "text", value: p?.ca_file ?? "", autocomplete: "off", spellcheck: "false" });
  const error = h("div", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to Outpost"),
    field("signin-hub", "Hub URL", hub),
    field("signin-tenant", "Organisation (slug, optional)", tenant),
    field("signin-email", "Email", email),
    field("signin-password", "Password", password),
    field("signin-ca-file", "Your organisation's CA certificate (PEM file; only if IT gave you one)", caFile),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.setAttribute("disabled", "");
    submit.textContent = "Signing in…";
    try {
      const signed = await call("sign_in", {
        hub: (hub as HTMLInputElement).value,
        tenant: (tenant as HTMLInputElement).value,
        email: (email as HTMLInputElement).value,
        password: (password as HTMLInputElement).value,
        ca_file: (caFile as HTMLInputElement).value,
      });
      (password as HTMLInputElement).value = "";
      done(signed.offline);
    } catch (err) {
      error.textContent = messageFor(err as IpcError);
      submit.removeAttribute("disabled");
      submit.textContent = "Sign in";
    }
  });
  return h("main", { class: "center" }, form);
}

export function lockScreen(info: AppInfo, done: () => void, signOut: () => void): HTMLElement {
  const password = h("input", { type: "password", required: true, autocomplete: "current-password" });
  const error = h("div", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "lock-title" },
    h("h1", { id: "lock-title" }, "Outpost is locked"),
    h("p", {}, `${info.profile?.full_name ?? ""} · ${info.profile?.email ?? ""} · ${info.profile?.tenant ?? ""}`),
    field("unlock-password", "Password", password),
    error,
    h("button", { type: "submit", class: "primary" }, "Unlock"),
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign in as someone else"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await call("unlock", { password: (password as HTMLInputElement).value });
      (password as HTMLInputElement).value = "";
      done();
    } catch (err) {
      error.textContent = messageFor(err as IpcError);
    }
  });
  queueMicrotask(() => password.focus());
  return h("main", { class: "center" }, form);
}
