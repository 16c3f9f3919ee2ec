// Following the shell's sync state: the event it sends on every change, and one read of the
// state when following starts.
import type { SyncState } from "../bindings/SyncState";

/** The Tauri event the shell emits, with a `SyncState` as its payload, whenever the state changes. */
export const SYNC_STATE_EVENT = "sync-state";

export interface SyncFeed {
  /** Hands every state the shell sends to `apply`; resolves to the function that stops it. */
  subscribe: (apply: (state: SyncState) => void) => Promise<() => void>;
  /** The state now. */
  read: () => Promise<SyncState>;
  /** Where each state goes. */
  apply: (state: SyncState) => void;
}

/**
 * Subscribes, then reads the state once (so no change falls between the two); an event that
 * arrives before the read's answer is newer than it, and wins. Returns the function that stops:
 * after it, nothing more is applied. A refused subscription still gets the one read.
 */
export function followSyncState(feed: SyncFeed): () => void {
  let stopped = false;
  let heard = false;
  let unsubscribe: (() => void) | null = null;
  const onEvent = (state: SyncState) => {
    if (stopped) return;
    heard = true;
    feed.apply(state);
  };
  const readOnce = () =>
    feed.read().then(
      (state) => {
        if (!stopped && !heard) feed.apply(state);
      },
      () => {
        // The next event brings the state.
      },
    );
  feed.subscribe(onEvent).then(
    (stop) => {
      if (stopped) stop();
      else unsubscribe = stop;
      return readOnce();
    },
    () => readOnce(),
  );
  return () => {
    stopped = true;
    unsubscribe?.();
    unsubscribe = null;
  };
}
