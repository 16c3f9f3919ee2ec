// The sync state the shell reports (link, pending changes, conflicts, last sync, mirror
// progress, update offer): one reactive value that the status bar and the app read. It is fed
// while something follows it (the status bar, for as long as it is on screen).
import { listen } from "@tauri-apps/api/event";
import type { SyncState } from "../bindings/SyncState";
import { call } from "../ipc";
import { followSyncState, SYNC_STATE_EVENT } from "../logic/syncfeed";

class SyncStore {
  /** The newest state; null until the first arrives, and again once nothing follows. */
  current = $state.raw<SyncState | null>(null);

  /**
   * A value that changes whenever the local copy does (pulled changes move the cursor; local
   * changes, pushes and refusals the counts): screens that show the copy read it again then.
   */
  get mirror(): string {
    const local = this.current?.local;
    return local ? `${local.cursor}/${local.patients}/${local.pending_ops}/${local.conflicts}` : "";
  }
}

export const sync = new SyncStore();

/**
 * Reads the state once with the `status` command, then follows the shell's `sync-state`
 * events. Returns the function that stops following and forgets the state.
 */
export function followSync(): () => void {
  const stop = followSyncState({
    subscribe: (apply) =>
      listen<SyncState>(SYNC_STATE_EVENT, (event) => apply(event.payload)).catch((err: unknown) => {
        // The window's capability must allow core:event:allow-listen; without it the bar
        // shows the state read once and never changes.
        console.error(`Outpost cannot follow "${SYNC_STATE_EVENT}" events:`, err);
        throw err;
      }),
    read: () => call("status", null),
    apply: (state) => {
      sync.current = state;
    },
  });
  return () => {
    stop();
    sync.current = null;
  };
}
