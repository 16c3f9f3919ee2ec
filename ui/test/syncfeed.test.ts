import { describe, expect, it } from "vitest";
import type { SyncState } from "../src/bindings/SyncState";
import { followSyncState } from "../src/logic/syncfeed";

const state = (online: boolean): SyncState => ({
  online,
  syncing: false,
  mirror: null,
  last_error: null,
  local: null,
  update: null,
  live: false,
  board_changes: 0,
});

/** A shell whose subscription and read answer when the test says. */
function fakeShell() {
  let emit: (s: SyncState) => void = () => {};
  let grant: (stop: () => void) => void = () => {};
  let refuse: (err: unknown) => void = () => {};
  let answer: (s: SyncState) => void = () => {};
  let fail: (err: unknown) => void = () => {};
  const applied: SyncState[] = [];
  const log: string[] = [];
  const feed = {
    subscribe: (apply: (s: SyncState) => void) => {
      log.push("subscribe");
      emit = apply;
      return new Promise<() => void>((resolve, reject) => {
        grant = resolve;
        refuse = reject;
      });
    },
    read: () => {
      log.push("read");
      return new Promise<SyncState>((resolve, reject) => {
        answer = resolve;
        fail = reject;
      });
    },
    apply: (s: SyncState) => void applied.push(s),
  };
  return {
    feed,
    applied,
    log,
    emit: (s: SyncState) => emit(s),
    grant: (stop: () => void = () => {}) => grant(stop),
    refuse: () => refuse(new Error("event.listen not allowed")),
    answer: (s: SyncState) => answer(s),
    fail: () => fail(new Error("offline")),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("following the sync state", () => {
  it("reads once the subscription is in place, and applies the answer", async () => {
    const shell = fakeShell();
    followSyncState(shell.feed);
    await settle();
    expect(shell.log).toEqual(["subscribe"]);
    shell.grant();
    await settle();
    expect(shell.log).toEqual(["subscribe", "read"]);
    shell.answer(state(true));
    await settle();
    expect(shell.applied).toEqual([state(true)]);
  });

  it("applies every event, and lets an event win over an older read", async () => {
    const shell = fakeShell();
    followSyncState(shell.feed);
    shell.grant();
    await settle();
    shell.emit(state(false));
    shell.answer(state(true));
    await settle();
    shell.emit(state(true));
    expect(shell.applied).toEqual([state(false), state(true)]);
  });

  it("applies nothing after stopping, and unsubscribes", async () => {
    const shell = fakeShell();
    let unsubscribed = 0;
    const stop = followSyncState(shell.feed);
    shell.grant(() => unsubscribed++);
    await settle();
    stop();
    expect(unsubscribed).toBe(1);
    shell.answer(state(true));
    shell.emit(state(false));
    await settle();
    expect(shell.applied).toEqual([]);
  });

  it("unsubscribes a subscription that arrives after stopping", async () => {
    const shell = fakeShell();
    let unsubscribed = 0;
    const stop = followSyncState(shell.feed);
    stop();
    shell.grant(() => unsubscribed++);
    await settle();
    expect(unsubscribed).toBe(1);
  });

  it("still reads the state once when the subscription is refused", async () => {
    const shell = fakeShell();
    followSyncState(shell.feed);
    shell.refuse();
    await settle();
    shell.answer(state(true));
    await settle();
    expect(shell.applied).toEqual([state(true)]);
  });

  it("waits for the next event when the read fails", async () => {
    const shell = fakeShell();
    followSyncState(shell.feed);
    shell.grant();
    await settle();
    shell.fail();
    await settle();
    expect(shell.applied).toEqual([]);
    shell.emit(state(false));
    expect(shell.applied).toEqual([state(false)]);
  });
});
