// Conflicts: both versions side by side; keep mine, take theirs, or choose per field.
import type { Conflict } from "../bindings/Conflict";
import type { IpcError } from "../bindings/IpcError";
import { h } from "../dom";
import { call } from "../ipc";

function valueOf(record: Record<string, unknown> | null, field: string): string {
  if (record === null) return "(deleted)";
  const value = record[field];
  return value === undefined || value === null ? "—" : String(value);
}

export function conflictsScreen(conflicts: Conflict[], reload: () => void, back: () => void): HTMLElement {
  const error = h("div", { class: "form-error", role: "alert" });
  const resolve = async (id: string, choice: Parameters<typeof call<"resolve_conflict">>[1]["choice"]) => {
    try {
      await call("resolve_conflict", { id, choice });
      reload();
    } catch (err) {
      error.textContent = (err as IpcError).message;
    }
  };
  return h(
    "section",
    { class: "card", "aria-labelledby": "conflicts-title" },
    h("button", { class: "link", onclick: back }, "← Patients"),
    h("h1", { id: "conflicts-title" }, "Conflicts"),
    error,
    conflicts.length === 0
      ? h("p", { class: "empty", id: "conflicts-empty" }, "No conflicts: every change reached the hub.")
      : h(
          "div",
          { id: "conflict-list" },
          ...conflicts.map((c) => {
            const mine = c.mine as unknown as Record<string, unknown> | null;
            const theirs = c.theirs as unknown as Record<string, unknown> | null;
            const name = theirs ?? mine;
            const picks = new Map<string, boolean>();
            return h(
              "article",
              { class: "conflict", "data-id": c.record_id },
              h("h2", {}, name ? `${String(name.family_name)}, ${String(name.given_name)}` : c.record_id),
              c.error ? h("p", { class: "form-error" }, `The hub said: ${c.error}`) : null,
              h(
                "table",
                {},
                h("thead", {}, h("tr", {}, h("th", {}, "Field"), h("th", {}, "Mine (this computer)"), h("th", {}, "Theirs (hub)"), h("th", {}, "Keep"))),
                h(
                  "tbody",
                  {},
                  ...c.fields.map((f) => {
                    const id = `pick-${c.record_id}-${f}`;
                    const select = h(
                      "select",
                      { id, onchange: (e: Event) => picks.set(f, (e.target as HTMLSelectElement).value === "mine") },
                      h("option", { value: "theirs" }, "theirs"),
                      h("option", { value: "mine" }, "mine"),
                    );
                    return h(
                      "tr",
                      {},
                      h("th", { scope: "row" }, h("label", { for: id }, f)),
                      h("td", { class: "mine" }, valueOf(mine, f)),
                      h("td", { class: "theirs" }, valueOf(theirs, f)),
                      h("td", {}, select),
                    );
                  }),
                ),
              ),
              h(
                "div",
                { class: "row" },
                h("button", { class: "primary", "data-action": "keep-mine", onclick: () => resolve(c.record_id, { kind: "keep_mine" }) }, "Keep mine"),
                h("button", { "data-action": "take-theirs", onclick: () => resolve(c.record_id, { kind: "take_theirs" }) }, "Take theirs"),
                h(
                  "button",
                  {
                    "data-action": "per-field",
                    onclick: () => resolve(c.record_id, { kind: "per_field", fields: Object.fromEntries(c.fields.map((f) => [f, picks.get(f) ?? false])) }),
                  },
                  "Apply field choices",
                ),
              ),
            );
          }),
        ),
  );
}
