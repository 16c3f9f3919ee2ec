// A conflict's two versions as the conflicts screen shows them, and the per-field choice.
import type { Conflict } from "../bindings/Conflict";

export type Version = Record<string, unknown> | null;

/** A field of one version: "(deleted)" when that side deleted the record, "—" when empty. */
export function shownValue(record: Version, field: string): string {
  if (record === null) return "(deleted)";
  const value = record[field];
  return value === undefined || value === null ? "—" : String(value);
}

/** What the record is, from the hub's version, else this computer's: "Family, Given" for a
 * patient, "Appointment at <start>" for an appointment, the name or title of other kinds; the
 * record id when both sides deleted it. */
export function conflictTitle(conflict: Conflict): string {
  const named = conflict.theirs ?? conflict.mine;
  if (!named) return conflict.record_id;
  switch (conflict.entity) {
    case "patient":
      return `${String(named.family_name)}, ${String(named.given_name)}`;
    case "appointment":
      return `Appointment at ${String(named.start)}`;
    default:
      return String(named.name ?? named.title ?? conflict.record_id);
  }
}

/** Per field, whether to keep this computer's value; a field not picked keeps the hub's. */
export function fieldChoices(fields: string[], keepMine: ReadonlyMap<string, boolean>): Record<string, boolean> {
  return Object.fromEntries(fields.map((f) => [f, keepMine.get(f) ?? false]));
}

/** What to do about a refusal the conflict itself cannot settle; null when nothing needs saying. */
export function conflictHint(conflict: Conflict): string | null {
  if (conflict.entity === "appointment" && conflict.rejected && conflict.code === "slot_taken") {
    return "The slot was taken on the hub: move this booking or cancel it in the Schedule";
  }
  return null;
}
