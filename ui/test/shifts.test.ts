import { describe, expect, it } from "vitest";
import type { LocalShift } from "../src/bindings/LocalShift";
import { dayAfter, onShift, shiftFields, shiftStanding, shiftText } from "../src/logic/shifts";

const local = (y: number, m: number, d: number, hh: number, mm = 0) => new Date(y, m - 1, d, hh, mm);
const shift = (start: Date, end: Date, status: "planned" | "cancelled" = "planned", conflict = false): LocalShift => ({
  pending: false,
  conflict,
  shift: {
    id: start.toISOString(),
    unit_id: "u",
    start: start.toISOString(),
    end: end.toISOString(),
    status,
    version: 1,
    created_at: "",
    updated_at: "",
    updated_by: null,
  },
});

describe("a unit's shifts", () => {
  const day = shift(local(2026, 12, 7, 7), local(2026, 12, 7, 19));
  const night = shift(local(2026, 12, 8, 19), local(2026, 12, 9, 7));

  it("cover a window they reach into, planned ones only", () => {
    const iso = (d: Date) => d.toISOString();
    expect(onShift([day], iso(local(2026, 12, 7, 18)), iso(local(2026, 12, 7, 20)))).toBe(true);
    expect(onShift([day], iso(local(2026, 12, 7, 19)), iso(local(2026, 12, 7, 21)))).toBe(false);
    const cancelled = shift(local(2026, 12, 7, 7), local(2026, 12, 7, 19), "cancelled");
    expect(onShift([cancelled], iso(local(2026, 12, 7, 8)), iso(local(2026, 12, 7, 9)))).toBe(false);
    const refused = shift(local(2026, 12, 7, 7), local(2026, 12, 7, 19), "planned", true);
    expect(onShift([refused], iso(local(2026, 12, 7, 8)), iso(local(2026, 12, 7, 9)))).toBe(false);
    expect(shiftStanding([refused], local(2026, 12, 7, 8).getTime()).on).toBe(false);
  });

  it("say whether the unit is on shift now, else when its next shift starts", () => {
    const clock = (d: Date) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const during = shiftStanding([day, night], local(2026, 12, 7, 10).getTime());
    expect(during).toEqual({ on: true, text: `on shift until ${clock(local(2026, 12, 7, 19))}` });
    const between = shiftStanding([day, night], local(2026, 12, 7, 20).getTime());
    expect(between.on).toBe(false);
    expect(between.text).toMatch(/^off shift · next .+ /);
    expect(between.text.endsWith(clock(local(2026, 12, 8, 19)))).toBe(true);
    expect(shiftStanding([], Date.now())).toEqual({ on: false, text: "no shift planned" });
    const clockOf = (d: Date) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const text = shiftText(night.shift);
    expect(text.startsWith(`${local(2026, 12, 8, 19).toLocaleDateString([], { weekday: "short", month: "short", day: "numeric" })} ${clockOf(local(2026, 12, 8, 19))} – `)).toBe(true);
    expect(text.endsWith(clockOf(local(2026, 12, 9, 7)))).toBe(true);
    expect(text).toContain(local(2026, 12, 9, 7).toLocaleDateString([], { weekday: "short", month: "short", day: "numeric" }));
  });

  it("are planned from a day and two clock times, overnight when the end comes first", () => {
    const form = { unitId: "u", date: "2026-12-08", start: "19:00", end: "07:00", notes: " short one " };
    expect(shiftFields(form)).toEqual({
      unit_id: "u",
      start: local(2026, 12, 8, 19).toISOString(),
      end: local(2026, 12, 9, 7).toISOString(),
      status: "planned",
      notes: "short one",
    });
    const same = shiftFields({ ...form, start: "07:00", end: "07:00", notes: "" });
    expect(same).toEqual({
      unit_id: "u",
      start: local(2026, 12, 8, 7).toISOString(),
      end: local(2026, 12, 9, 7).toISOString(),
      status: "planned",
    });
    expect(shiftFields({ ...form, unitId: "" })).toBe("Choose the unit.");
    expect(dayAfter(local(2026, 12, 31, 23, 30))).toBe("2027-01-01");
    expect(dayAfter(local(2026, 3, 29, 0, 30))).toBe("2026-03-30");
    expect(shiftFields({ ...form, date: "" })).toBe("Give the day, the start and the end.");
  });
});
