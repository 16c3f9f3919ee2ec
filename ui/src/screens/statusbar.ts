// Always visible: link, pending changes, conflicts, last sync; a progress bar during the
// first mirror. Polls the core once a second (the core answers without waiting for a sync).
import type { SyncState } from "../bindings/SyncState";
import { h, replace } from "../dom";
import { call } from "../ipc";
import { statusText, type StatusText } from "../logic/status";

/** The update offer: what it is, and the user's choice to install (and restart) or not.
 * `refresh` follows the sync state while the panel is open: the install button turns on once
 * nothing waits to sync. */
function updatePanel(
  text: NonNullable<StatusText["update"]>,
  notes: string | null,
): { panel: HTMLElement; refresh: (update: StatusText["update"]) => void } {
  const panel = h("div", { class: "update-panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "update-title", id: "update-panel" });
  const message = h("p", { id: "update-message", role: "alert" });
  let installing = false;
  let failure: string | null = null;
  const install = h(
    "button",
    {
      id: "update-install",
      class: "primary",
      onclick: async () => {
        installing = true;
        install.setAttribute("disabled", "");
        replace(message, "Downloading and installing…");
        try {
          await call("install_update", null);
        } catch (err) {
          failure = (err as { message?: string }).message ?? "The update could not be installed.";
          replace(message, failure);
        }
        installing = false;
      },
    },
    "Install and restart",
  );
  const refresh = (update: StatusText["update"]) => {
    if (installing || !update) return;
    replace(message, update.waiting ?? failure ?? "Outpost restarts to finish installing.");
    if (update.waiting === null) install.removeAttribute("disabled");
    else install.setAttribute("disabled", "");
  };
  replace(
    panel,
    h("h2", { id: "update-title" }, text.label),
    notes ? h("p", { class: "update-notes" }, notes) : null,
    message,
    h("div", { class: "actions" }, install, h("button", { type: "button", id: "update-later", onclick: () => panel.remove() }, "Later")),
  );
  refresh(text);
  return { panel, refresh };
}

export function statusBar(onState: (state: SyncState) => void, openConflicts: () => void): HTMLElement {
  const bar = h("footer", { class: "status-bar", role: "status", "aria-live": "polite", id: "status-bar" });
  let offer: ReturnType<typeof updatePanel> | null = null;
  const render = (state: SyncState) => {
    const text = statusText(state, new Date());
    if (offer?.panel.isConnected) offer.refresh(text.update);
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
                offer?.panel.remove();
                if (!text.update) return;
                offer = updatePanel(text.update, state.update?.notes ?? null);
                document.body.append(offer.panel);
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
