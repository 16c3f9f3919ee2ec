// A patient's versions: who, when, which fields changed, from which device, and whether offline.
import type { HistoryEntry } from "../bindings/HistoryEntry";
import { h } from "../dom";
import { timeline } from "../logic/history";

/** `pending`: this computer holds changes to the patient that the hub has not yet confirmed. */
export function historyScreen(
  name: string,
  entries: HistoryEntry[],
  me: string | null,
  pending: boolean,
  back: () => void,
): HTMLElement {
  const items = timeline(entries, me);
  return h(
    "section",
    { class: "card", "aria-labelledby": "history-title" },
    h("button", { class: "link", onclick: back }, "← Patient"),
    h("h1", { id: "history-title" }, `History of ${name}`),
    pending
      ? h("p", { class: "notice", id: "history-pending" }, "Changes made on this computer are not synced yet: they appear here once the hub has them.")
      : null,
    items.length === 0
      ? h("p", { class: "empty" }, "No versions yet.")
      : h(
          "ol",
          { class: "timeline", id: "history-list" },
          ...items.map((item) =>
            h(
              "li",
              { "data-version": String(item.version) },
              h("div", { class: "row" }, h("strong", {}, `v${item.version} · ${item.action}`), h("span", { class: "muted" }, `${item.when} UTC · ${item.who}`)),
              h("div", {}, item.summary),
              item.madeOffline !== null
                ? h("span", { class: "badge offline" }, `made offline at ${item.madeOffline} UTC (device clock), synced later`)
                : item.fromDevice
                  ? h("span", { class: "badge device" }, "synced from the desktop app")
                  : null,
            ),
          ),
        ),
  );
}
