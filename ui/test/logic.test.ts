import { describe, expect, it } from "vitest";
import { Latest } from "../src/logic/latest";
import { ago, statusText } from "../src/logic/status";
import { diffForm, parseField, visibleFields, FIELDS } from "../src/logic/fields";
import { timeline } from "../src/logic/history";
import type { SyncState } from "../src/bindings/SyncState";
import type { HistoryEntry } from "../src/bindings/HistoryEntry";

const spec = (name: string) => FIELDS.find((f) => f.name === name)!;

describe("search as you type", () => {
  it("shows only the newest answer when an older one arrives late", async () => {
    const latest = new Latest<string>();
    let releaseSlow: (v: string) => void = () => {};
    const slow = latest.run(() => new Promise<string>((r) => (releaseSlow = r)));
    const fast = latest.run(async () => "smi");
    releaseSlow("sm");
    expect(await fast).toBe("smi");
    expect(await slow).toBeUndefined();
  });
});

describe("status bar", () => {
  const base: SyncState = { online: true, syncing: false, mirror: null, last_error: null, local: null, update: null, live: false, board_changes: 0 };
  it("says offline with one pending change", () => {
    const state: SyncState = {
      ...base,
      online: false,
      local: {
        profile: null, unlocked: true, pending_ops: 1, pending_audit: 3, conflicts: 0, patients: 10,
        cursor: 5, last_sync: "2026-11-21T10:00:00Z",
      },
    };
    const text = statusText(state, new Date("2026-11-21T10:05:30Z"));
    expect(text.linkLabel).toBe("Offline");
    expect(text.pending).toBe("1 change pending");
    expect(text.lastSync).toBe("Last sync: 5 min ago");
    expect(text.conflicts).toBe("No conflicts");
  });
  it("tells an untrusted hub certificate from being offline", () => {
    const text = statusText(
      { ...base, last_error: { code: "tls_untrusted", message: "not trusted", field: null } },
      new Date(),
    );
    expect(text.link).toBe("untrusted");
    expect(text.linkLabel).toBe("Hub certificate not trusted");
  });
  it("offers an update, and holds it while changes wait to sync", () => {
    const local = {
      profile: null, unlocked: true, pending_ops: 0, pending_audit: 0, conflicts: 0, patients: 10,
      cursor: 5, last_sync: null,
    };
    const offered = { ...base, local, update: { version: "0.2.0", notes: "Faster search" } };
    expect(statusText(base, new Date()).update).toBeNull();
    expect(statusText(offered, new Date()).update).toEqual({ label: "Update available — v0.2.0", waiting: null });
    const busy = statusText({ ...offered, local: { ...local, pending_ops: 2 } }, new Date()).update;
    expect(busy?.waiting).toBe("2 changes are waiting to sync: the update installs once they have.");
    const audit = statusText({ ...offered, local: { ...local, pending_audit: 3 } }, new Date()).update;
    expect(audit?.waiting).toContain("viewed offline");
  });
  it("shows mirror progress and syncing", () => {
    const text = statusText({ ...base, syncing: true, mirror: { done: 500, total: 1000 } }, new Date());
    expect(text.link).toBe("syncing");
    expect(text.progress).toEqual({ done: 500, total: 1000 });
  });
  it("formats ages", () => {
    const now = new Date("2026-11-21T12:00:00Z");
    expect(ago(null, now)).toBe("never");
    expect(ago("2026-11-21T11:59:50Z", now)).toBe("just now");
    expect(ago("2026-11-21T09:00:00Z", now)).toBe("3 h ago");
    expect(ago("2026-11-01T09:00:00Z", now)).toBe("2026-11-01");
  });
});

describe("patient form", () => {
  it("hides clinical fields from roles that may not see them", () => {
    const names = visibleFields(false).map((f) => f.name);
    expect(names).toContain("phone");
    expect(names).not.toContain("bmi");
    expect(names).not.toContain("stroke");
    expect(visibleFields(true).map((f) => f.name)).toContain("bmi");
  });
  it("parses and refuses values with a message naming the field", () => {
    expect(parseField(spec("bmi"), "31.5")).toEqual({ value: 31.5 });
    expect(parseField(spec("bmi"), "heavy")).toEqual({ error: "BMI must be a number" });
    expect(parseField(spec("family_name"), "  ")).toEqual({ error: "Family name is required" });
    expect(parseField(spec("phone"), "")).toEqual({ value: null });
    expect(parseField(spec("stroke"), "yes")).toEqual({ value: true });
    expect(parseField(spec("birth_date"), "21/11/2026")).toHaveProperty("error");
  });
  it("sends only what changed, and clears emptied optional fields", () => {
    const specs = visibleFields(false);
    const current = { mrn: "A1", given_name: "Ada", family_name: "Byron", birth_date: "1990-12-10", sex: "female", phone: "+1 555" };
    const texts = { mrn: "A1", given_name: "Ada", family_name: "Lovelace", birth_date: "1990-12-10", sex: "female", phone: "", email: "", address: "" };
    const { changes, errors } = diffForm(specs, texts, current);
    expect(errors).toEqual({});
    expect(changes).toEqual({ family_name: "Lovelace", phone: null });
  });
});

describe("history timeline", () => {
  it("lists newest first with who, fields, device origin, and marks changes that waited offline", () => {
    const entries: HistoryEntry[] = [
      {
        version: 1, action: "create", changes: {}, actor_user_id: "u-1", session_id: null, device_id: null,
        at: "2026-11-20T09:00:00.000000Z", client_time: null,
      },
      {
        version: 2, action: "update", changes: { phone: { old: null, new: "+1 555 0100" } }, actor_user_id: "me",
        session_id: null, device_id: "d-1", at: "2026-11-21T09:00:00.000000Z", client_time: "2026-11-21T08:59:58.000000Z",
      },
      {
        version: 3, action: "update", changes: { address: { old: null, new: "1 Offline Road" } }, actor_user_id: "me",
        session_id: null, device_id: "d-1", at: "2026-11-21T11:30:00.000000Z", client_time: "2026-11-21T10:15:07.250000Z",
      },
    ];
    const items = timeline(entries, "me");
    expect(items.map((i) => i.version)).toEqual([3, 2, 1]);
    expect(items[0]).toMatchObject({ who: "you", fromDevice: true, madeOffline: "2026-11-21 10:15:07" });
    expect(items[1]).toMatchObject({ who: "you", fromDevice: true, madeOffline: null, fields: ["phone"], summary: "phone: — → +1 555 0100" });
    expect(items[2]).toMatchObject({ who: "u-1", summary: "Registered", fromDevice: false, madeOffline: null });
  });
});
