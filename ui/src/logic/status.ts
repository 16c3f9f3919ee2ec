// The status bar's words, from the sync state.
import type { SyncState } from "../bindings/SyncState";

export interface StatusText {
  link: "online" | "offline" | "syncing" | "untrusted";
  linkLabel: string;
  pending: string;
  conflicts: string;
  lastSync: string;
  progress: { done: number; total: number } | null;
  /** A newer build the hub offers: the bar's label, and why it cannot install yet. */
  update: { label: string; waiting: string | null } | null;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "just now", "5 min ago", "3 h ago", or the date. */
export function ago(iso: string | null | undefined, now: Date): string {
  if (!iso) return "never";
  const then = new Date(iso);
  const seconds = Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000));
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return then.toISOString().slice(0, 10);
}

export function statusText(state: SyncState, now: Date): StatusText {
  const local = state.local;
  const pending = Number(local?.pending_ops ?? 0);
  const conflicts = Number(local?.conflicts ?? 0);
  // A hub whose certificate is not trusted answers, but is not reachable either: say which.
  const untrusted = state.last_error?.code === "tls_untrusted";
  const link = state.syncing ? "syncing" : untrusted ? "untrusted" : state.online ? "online" : "offline";
  const labels = { syncing: "Syncing…", online: "Online", offline: "Offline", untrusted: "Hub certificate not trusted" };
  const mirror = state.mirror;
  return {
    link,
    linkLabel: labels[link],
    pending: pending === 0 ? "All changes synced" : `${plural(pending, "change", "changes")} pending`,
    conflicts: conflicts === 0 ? "No conflicts" : plural(conflicts, "conflict", "conflicts"),
    lastSync: `Last sync: ${ago(local?.last_sync, now)}`,
    progress: mirror ? { done: Number(mirror.done), total: Number(mirror.total) } : null,
    update: state.update
      ? {
          label: `Update available — v${state.update.version}`,
          // Installing restarts the app: never with changes that have not reached the hub.
          waiting:
            pending > 0
              ? `${plural(pending, "change is", "changes are")} waiting to sync: the update installs once ${pending === 1 ? "it has" : "they have"}.`
              : Number(local?.pending_audit ?? 0) > 0
                ? "The record of what was viewed offline is waiting to sync: the update installs once it has."
                : null,
        }
      : null,
  };
}
