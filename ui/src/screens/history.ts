// A patient's versions: who, when, which fields changed, and whether it came from a device.
import type { HistoryEntry } from "../bindings/HistoryEntry";
import { h } from "../dom";
import { timeline } from "../logic/history";

export function historyScreen(name: string, entries: HistoryEntry[], me: string | null, back: () => void): HTMLElement {
  const items = timeline(entries, me);
  return h(
    "section",
    { class: "card", "aria-labelledby": "history-title" },
    h("button", { class: "link", onclick: back }, "← Patient"),
    h("h1", { id: "history-title" }, `History of ${name}`),
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
              item.fromDevice ? h("span", { class: "badge device" }, "synced from a device (may have been offline)") : null,
            ),
          ),
        ),
  );
}
