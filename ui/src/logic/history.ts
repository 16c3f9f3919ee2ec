// The history timeline: one line per version, saying what changed.
import type { HistoryEntry } from "../bindings/HistoryEntry";

export interface TimelineItem {
  version: number;
  action: string;
  when: string;
  who: string;
  /** Made on a desktop and uploaded by its sync (possibly offline at the time). */
  fromDevice: boolean;
  fields: string[];
  summary: string;
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function timeline(entries: HistoryEntry[], me: string | null): TimelineItem[] {
  return entries
    .map((entry) => {
      const fields = Object.keys(entry.changes);
      const summary =
        entry.action === "create"
          ? "Registered"
          : entry.action === "delete"
            ? "Deleted"
            : fields
                .map((f) => `${f}: ${shown(entry.changes[f]?.old)} → ${shown(entry.changes[f]?.new)}`)
                .join("; ");
      return {
        version: Number(entry.version),
        action: entry.action,
        when: entry.at.replace("T", " ").slice(0, 19),
        who: entry.actor_user_id === null ? "system" : entry.actor_user_id === me ? "you" : entry.actor_user_id.slice(0, 8),
        fromDevice: entry.device_id !== null,
        fields,
        summary,
      };
    })
    .reverse();
}
