// Always visible: link, pending changes, conflicts, last sync; a progress bar during the
// first mirror. Polls the core once a second (the core answers without waiting for a sync).
import type { SyncState } from "../bindings/SyncState";
import { h, replace } from "../dom";
import { call } from "../ipc";
import { statusText, type StatusText } from "../logic/status";

/** The update offer: what it is, and the user's choice to install (and restart) or not. */
function updatePanel(text: NonNullable<StatusText["update"]>, notes: string | null): HTMLElement {
  const panel = h("div", { class: "update-panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "update-title", id: "update-panel" });
  const message = h("p", { id: "update-message", role: "alert" }, text.waiting ?? "Outpost restarts to finish installing.");
  const close = () => panel.remove();
  const install = h(
    "button",
    {
      id: "update-install",
      class: "primary",
      disabled: text.waiting !== null,
      onclick: async () => {
        install.setAttribute("disabled", "");
        replace(message, "Downloading and installing…");
        try {
          await call("install_update", null);
        } catch (err) {
          replace(message, (err as { message?: string }).message ?? "The update could not be installed.");
          install.removeAttribute("disabled");
        }
      },
    },
    "Install and restart",
  );
  replace(
    panel,
    h("h2", { id: "update-title" }, text.label),
    notes ? h("p", { class: "update-notes" }, notes) : null,
    message,
    h("div", { class: "actions" }, install, h("button", { type: "button", id: "update-later", onclick: close }, "Later")),
  );
  return panel;
}

export function statusBar(onState: (state: SyncState) => void, openConflicts: () => void): HTMLElement {
  const bar = h("footer", { class: "status-bar", role: "status", "aria-live": "polite", id: "status-bar" });
  const render = (state: SyncState) => {
    const text = statusText(state, new Date());
    replace(
      bar,
      h("span", { class: `link ${text.link}`, id: "status-link", "data-state": text.link }, text.linkLabel),
      h("span", { id: "status-pending", "data-count": String(state.local?.pending_ops ?? 0) }, text.pending),
      h(
        "button",
        { class: "link", id: "status-conflicts", "data-count": String(state.local?.conflicts ?? 0), onclick: openConflicts },
        text.conflicts,
      ),
      h("span", { id: "status-last-sync" }, text.lastSync),
      text.progress
        ? h(
            "span",
            { class: "mirror" },
            h("progress", { max: text.progress.total, value: text.progress.done, "aria-label": "First copy" }),
            ` ${text.progress.done.toLocaleString()} / ${text.progress.total.toLocaleString()} rows`,
          )
        : null,
      text.update
        ? h(
            "button",
            {
              class: "link update",
              id: "status-update",
              onclick: () => {
                document.getElementById("update-panel")?.remove();
                if (text.update) document.body.append(updatePanel(text.update, state.update?.notes ?? null));
              },
            },
            text.update.label,
          )
        : null,
      h("button", { class: "link", onclick: () => void call("sync_now", null) }, "Sync now"),
    );
  };
  const poll = async () => {
    try {
      const state = await call("status", null);
      render(state);
      onState(state);
    } catch {
      // The next poll tries again; the bar keeps its last state.
    }
  };
  void poll();
  // One poller per bar: it stops once the bar has left the page (sign-out, lock).
  const timer = window.setInterval(() => {
    if (bar.isConnected) void poll();
    else window.clearInterval(timer);
  }, 1000);
  return bar;
}
