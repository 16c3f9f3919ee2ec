// The history timeline: one line per version, saying what changed.
import type { HistoryEntry } from "../bindings/HistoryEntry";

export interface TimelineItem {
  version: number;
  action: string;
  when: string;
  who: string;
  /** Made on a device and uploaded by its sync. */
  fromDevice: boolean;
  /** Made on a device while it could not reach the hub: when, by the device's clock. */
  madeOffline: string | null;
  fields: string[];
  summary: string;
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * A synced change that reached the hub this much later than the device made it waited in the
 * outbox: the device was offline (online, the app pushes within seconds of a change).
 */
export const OFFLINE_AFTER_MS = 60_000;

function shownTime(iso: string): string {
  return iso.replace("T", " ").slice(0, 19);
}

function offlineAt(entry: HistoryEntry): string | null {
  if (entry.client_time === null) return null;
  const delay = Date.parse(entry.at) - Date.parse(entry.client_time);
  return delay > OFFLINE_AFTER_MS ? shownTime(entry.client_time) : null;
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
        when: shownTime(entry.at),
        who: entry.actor_user_id === null ? "system" : entry.actor_user_id === me ? "you" : entry.actor_user_id.slice(0, 8),
        fromDevice: entry.device_id !== null,
        madeOffline: offlineAt(entry),
        fields,
        summary,
      };
    })
    .reverse();
}
