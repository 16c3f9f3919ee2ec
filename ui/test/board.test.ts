import { describe, expect, it } from "vitest";
import type { Bid } from "../src/bindings/Bid";
import type { BoardEntry } from "../src/bindings/BoardEntry";
import type { Profile } from "../src/bindings/Profile";
import type { TransportReport } from "../src/bindings/TransportReport";
import type { Unit } from "../src/bindings/Unit";
import {
  type RequestForm,
  biddingUnits,
  boardRole,
  daySeries,
  instant,
  lastMonth,
  liveBid,
  nextHour,
  onTimeShare,
  ranked,
  requestFields,
  unitStatusLabel,
} from "../src/logic/board";

const profile = (over: Partial<Profile>): Profile => ({
  id: "p",
  hub: "http://127.0.0.1",
  tenant: "t",
  tenant_id: "t",
  tenant_kind: "ems_agency",
  email: "e",
  user_id: "u",
  full_name: "n",
  role: "ems_dispatcher",
  permissions: ["board.read", "trip.bid"],
  ca_file: null,
  ...over,
});

const unit = (call_sign: string, level: Unit["level"], status: Unit["status"] = "available"): Unit => ({
  id: call_sign,
  call_sign,
  level,
  capabilities: [],
  status,
  crew_user_ids: [],
  version: 1,
  created_at: "",
  updated_at: "",
  updated_by: null,
});

const bid = (id: string, eta: number, status: Bid["status"]): Bid => ({
  id,
  entry_id: "e",
  agency_tenant_id: "a",
  agency: "Metro",
  unit_id: "u",
  unit: "Medic 1",
  unit_level: "ALS",
  eta_minutes: eta,
  status,
  created_at: "",
  updated_at: "",
});

describe("the board by role", () => {
  it("gives dispatchers bids, hospitals acceptance and the center the whole board", () => {
    expect(boardRole(profile({}))).toBe("dispatcher");
    expect(boardRole(profile({ tenant_kind: "hospital", role: "transport_coordinator", permissions: ["board.read", "trip.assign"] }))).toBe("hospital");
    expect(boardRole(profile({ tenant_kind: "transport_center", role: "transport_coordinator" }))).toBe("center");
    expect(boardRole(profile({ permissions: ["trip.read"] }))).toBeNull();
    expect(boardRole(null)).toBeNull();
  });

  it("offers units in service of the level or above, on shift first, and one live bid at a time", () => {
    const entry = { level: "ALS", pickup_from: "2026-12-07T14:00:00Z", pickup_to: "2026-12-07T16:00:00Z" } as BoardEntry;
    const shift = (start: string, end: string, status: "planned" | "cancelled" = "planned") => ({
      pending: false,
      conflict: false,
      shift: { id: start, unit_id: "u", start, end, status, version: 1, created_at: "", updated_at: "", updated_by: null },
    });
    const local = (u: Unit, shifts: ReturnType<typeof shift>[] = []) => ({ unit: u, pending: false, shifts });
    const units = [
      local(unit("Basic", "BLS")),
      local(unit("Medic", "ALS"), [shift("2026-12-07T16:00:00Z", "2026-12-08T04:00:00Z")]),
      local(unit("Critical", "CCT"), [shift("2026-12-07T07:00:00Z", "2026-12-07T15:00:00Z")]),
      local(unit("Rescue", "CCT"), [shift("2026-12-07T07:00:00Z", "2026-12-07T19:00:00Z", "cancelled")]),
      local(unit("Shop", "CCT", "out_of_service"), [shift("2026-12-07T07:00:00Z", "2026-12-07T19:00:00Z")]),
    ];
    expect(biddingUnits(units, entry).map((u) => [u.unit.call_sign, u.onShift])).toEqual([
      ["Critical", true],
      ["Medic", false],
      ["Rescue", false],
    ]);
    expect(liveBid([bid("a", 5, "withdrawn"), bid("b", 9, "submitted")])?.id).toBe("b");
    expect(liveBid([bid("a", 5, "declined")])).toBeNull();
    expect(ranked([bid("slow", 40, "submitted"), bid("gone", 1, "withdrawn"), bid("fast", 10, "submitted")]).map((b) => b.id)).toEqual(["fast", "slow", "gone"]);
  });

  it("draws the report: on-time share, days stacked, the last thirty days", () => {
    const report = {
      on_time: 3,
      late: 1,
      days: [{ date: "2026-11-07", published: 4, assigned: 1, completed: 2, cancelled: 0 }],
    } as TransportReport;
    expect(onTimeShare(report)).toBe(75);
    expect(onTimeShare({ ...report, on_time: 0, late: 0 })).toBeNull();
    const series = daySeries(report);
    expect([series.labels, series.completed, series.running, series.open]).toEqual([["11-07"], [2], [1], [1]]);
    const period = lastMonth(new Date("2026-12-06T18:00:00Z"));
    expect(period).toEqual({ from: "2026-11-07T00:00:00.000Z", to: "2026-12-07T00:00:00.000Z" });
  });
});

describe("a new transport request", () => {
  const form: RequestForm = {
    patientId: "patient",
    origin: "er",
    destination: "rehab",
    level: "ALS",
    priority: "urgent",
    pickupFrom: "2026-12-07T14:00",
    windowHours: 2,
    equipment: " oxygen, , cardiac monitor ",
    isolation: "",
    mobility: "stretcher",
    reason: " rehabilitation ",
    notes: "",
  };

  it("becomes a draft with a window, trimmed labels and no empty text", () => {
    const fields = requestFields(form);
    if ("field" in fields) throw new Error(fields.message);
    expect(fields.status).toBe("draft");
    expect(Date.parse(fields.pickup_to) - Date.parse(fields.pickup_from)).toBe(2 * 3_600_000);
    expect(fields.pickup_from).toBe(new Date("2026-12-07T14:00").toISOString());
    expect(fields.equipment).toEqual(["oxygen", "cardiac monitor"]);
    expect([fields.isolation, fields.reason, fields.mobility]).toEqual([null, "rehabilitation", "stretcher"]);
  });

  it("names the field to fix first", () => {
    const fix = (over: Partial<RequestForm>) => {
      const result = requestFields({ ...form, ...over });
      return "field" in result ? result.field : null;
    };
    expect(fix({ patientId: null })).toBe("patientId");
    expect(fix({ origin: "" })).toBe("origin");
    expect(fix({ destination: "er" })).toBe("destination");
    expect(fix({ pickupFrom: "" })).toBe("pickupFrom");
    expect(fix({ windowHours: 0 })).toBe("windowHours");
    expect(fix({ windowHours: 169 })).toBe("windowHours");
    expect(fix({})).toBeNull();
  });

  it("opens its window at the next whole hour by default", () => {
    expect(nextHour(new Date(2026, 11, 6, 21, 40))).toBe("2026-12-06T22:00");
    expect(nextHour(new Date(2026, 11, 31, 23, 5))).toBe("2027-01-01T00:00");
  });
});

describe("the board's window filter", () => {
  it("reads the computer's time as an instant, and nothing as no filter", () => {
    expect(instant("2026-12-07T14:00")).toBe(new Date(2026, 11, 7, 14, 0).toISOString());
    expect(instant("")).toBeNull();
    expect(instant("not a time")).toBeNull();
  });
});

describe("a unit's status", () => {
  it("reads as a dispatcher says it", () => {
    expect(["available", "assigned", "out_of_service"].map((s) => unitStatusLabel(s as "available"))).toEqual([
      "in service",
      "on a trip",
      "out of service",
    ]);
  });
});
