// The schedule's pure logic: the clinic's clock and UTC (across summer-time changes), days and
// weeks, and the grid of free, off-hours, closed and booked quarter hours.
import { describe, expect, it } from "vitest";
import type { Appointment } from "../src/bindings/Appointment";
import type { CalendarEntry } from "../src/bindings/CalendarEntry";
import type { LocalAppointment } from "../src/bindings/LocalAppointment";
import type { Practitioner } from "../src/bindings/Practitioner";
import type { WorkingBlock } from "../src/bindings/WorkingBlock";
import {
  actionsFor,
  addDays,
  appointmentWhen,
  clinicZone,
  clockMinutes,
  clockText,
  daysRange,
  dayGrid,
  dayTitle,
  entrySpan,
  freeMinutesFrom,
  gridRows,
  localToUtcMs,
  mediumDay,
  movedTimes,
  patientIds,
  refreshAfter,
  splitByTime,
  toLocal,
  todayIn,
  toUtc,
  utcIso,
  weekdayOf,
  weekGrid,
  weekOf,
  weekTitle,
  type Cell,
} from "../src/logic/schedule";

const NY = "America/New_York";

const weekdays = (start: string, end: string): WorkingBlock[] =>
  (["mon", "tue", "wed", "thu", "fri"] as const).map((day) => ({ day, start, end }));

const practitioner = (id: string, blocks: WorkingBlock[], active = true): Practitioner => ({
  id, version: 1, created_at: "", updated_at: "", updated_by: null, name: `Dr ${id}`, active,
  working_hours: blocks, time_zone: NY,
});

const appointment = (id: string, who: string, start: string, end: string, extra: Partial<Appointment> = {}): LocalAppointment => ({
  appointment: {
    id, version: 1, created_at: "", updated_at: "", updated_by: null, patient_id: `patient-${id}`,
    practitioner_id: who, start, end, status: "booked", ...extra,
  },
  pending: false,
  conflict: false,
});

const entry = (fields: Partial<CalendarEntry>): CalendarEntry => ({
  id: "c1", version: 1, created_at: "", updated_at: "", updated_by: null, kind: "closure", title: "Closed", ...fields,
});

const kinds = (cells: Cell[]) => cells.map((c) => (c.kind === "booked" ? `booked${c.span}` : c.kind));

describe("the clinic's clock and UTC", () => {
  it("converts in a UTC zone without shifting", () => {
    expect(toUtc("2026-03-08", "09:15", "UTC")).toBe("2026-03-08T09:15:00Z");
    expect(toLocal("2026-03-08T23:45:00Z", "UTC")).toEqual({ date: "2026-03-08", time: "23:45", minutes: 23 * 60 + 45 });
    expect(toUtc("2026-03-08", "24:00", "UTC")).toBe("2026-03-09T00:00:00Z");
  });

  it("follows New York into summer time on 2026-03-08", () => {
    expect(toUtc("2026-03-08", "00:00", NY)).toBe("2026-03-08T05:00:00Z");
    expect(toUtc("2026-03-08", "01:59", NY)).toBe("2026-03-08T06:59:00Z");
    expect(toUtc("2026-03-08", "03:00", NY)).toBe("2026-03-08T07:00:00Z");
    expect(toUtc("2026-03-08", "09:00", NY)).toBe("2026-03-08T13:00:00Z");
    // 02:30 does not exist that day: it is read as 03:30 summer time.
    expect(toUtc("2026-03-08", "02:30", NY)).toBe("2026-03-08T07:30:00Z");
    // The day has 23 hours.
    const { from, to } = daysRange("2026-03-08", "2026-03-08", NY);
    expect(Date.parse(to) - Date.parse(from)).toBe(23 * 3600_000);
    expect(toLocal("2026-03-08T13:00:00Z", NY)).toEqual({ date: "2026-03-08", time: "09:00", minutes: 540 });
    expect(toLocal("2026-03-08T06:59:00Z", NY).time).toBe("01:59");
    expect(toLocal("2026-03-08T07:00:00Z", NY).time).toBe("03:00");
  });

  it("follows New York out of summer time on 2026-11-01", () => {
    expect(toUtc("2026-11-01", "00:00", NY)).toBe("2026-11-01T04:00:00Z");
    // 01:30 happens twice: the first one (summer time) is taken.
    expect(toUtc("2026-11-01", "01:30", NY)).toBe("2026-11-01T05:30:00Z");
    expect(toUtc("2026-11-01", "02:00", NY)).toBe("2026-11-01T07:00:00Z");
    expect(toUtc("2026-11-01", "09:00", NY)).toBe("2026-11-01T14:00:00Z");
    expect(toLocal("2026-11-01T05:30:00Z", NY).time).toBe("01:30");
    expect(toLocal("2026-11-01T06:30:00Z", NY).time).toBe("01:30");
    const { from, to } = daysRange("2026-11-01", "2026-11-01", NY);
    expect(Date.parse(to) - Date.parse(from)).toBe(25 * 3600_000);
  });

  it("reads a late UTC time as the local day before", () => {
    expect(toLocal("2026-12-08T03:30:00Z", NY)).toEqual({ date: "2026-12-07", time: "22:30", minutes: 22 * 60 + 30 });
    expect(todayIn(NY, new Date("2026-12-08T03:30:00Z"))).toBe("2026-12-07");
    expect(todayIn("UTC", new Date("2026-12-08T03:30:00Z"))).toBe("2026-12-08");
  });

  it("round-trips every quarter hour of a summer-time day", () => {
    for (let minute = 0; minute < 24 * 60; minute += 15) {
      if (minute >= 120 && minute < 180) continue; // the hour that does not exist
      const at = localToUtcMs("2026-03-08", minute, NY);
      expect(toLocal(at, NY)).toMatchObject({ date: "2026-03-08", minutes: minute });
    }
  });

  it("reads and writes clock times", () => {
    expect(clockMinutes("08:30")).toBe(510);
    expect(clockMinutes("24:00")).toBe(1440);
    expect(clockMinutes("25:00")).toBeNull();
    expect(clockMinutes("8:30")).toBeNull();
    expect(clockText(510)).toBe("08:30");
    expect(utcIso(Date.UTC(2026, 2, 9, 13))).toBe("2026-03-09T13:00:00Z");
    expect(toUtc("2026-03-09", "9am", NY)).toBeNull();
  });

  it("takes the clinic's zone from the practitioners", () => {
    expect(clinicZone([practitioner("a", [])])).toBe(NY);
    expect(clinicZone([])).toBe("UTC");
  });
});

describe("days and weeks", () => {
  it("counts days across months and years", () => {
    expect(addDays("2026-02-28", 1)).toBe("2026-03-01");
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
    expect(addDays("2026-03-01", -1)).toBe("2026-02-28");
    expect(weekdayOf("2026-03-09")).toBe("mon");
    expect(weekdayOf("2026-03-08")).toBe("sun");
  });

  it("runs weeks from Monday to Sunday", () => {
    const week = weekOf("2026-03-08");
    expect(week).toEqual(["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08"]);
    expect(weekOf("2026-03-09")[0]).toBe("2026-03-09");
    expect(weekTitle(week)).toBe("Mon, Mar 2 – Sun, Mar 8, 2026");
    expect(dayTitle("2026-03-09")).toBe("Monday, March 9, 2026");
    expect(mediumDay("2026-03-09")).toBe("Mon, Mar 9, 2026");
  });

  it("gives a week's UTC range for the appointments command", () => {
    const week = weekOf("2026-03-04");
    expect(daysRange(week[0], week[6], NY)).toEqual({ from: "2026-03-02T05:00:00Z", to: "2026-03-09T04:00:00Z" });
  });

  it("says when an appointment is on the clinic's clock", () => {
    expect(appointmentWhen("2026-03-09T13:15:00Z", "2026-03-09T13:45:00Z", NY)).toEqual({
      day: "2026-03-09", label: "Mon, Mar 9", times: "09:15–09:45",
    });
  });
});

describe("the calendar", () => {
  it("covers whole local days, or a time range", () => {
    const holiday = entry({ kind: "holiday", date: "2026-03-08" });
    expect(entrySpan(holiday, NY)).toEqual([Date.parse("2026-03-08T05:00:00Z"), Date.parse("2026-03-09T04:00:00Z")]);
    const leave = entry({ date: "2026-03-09", end_date: "2026-03-13" });
    expect(entrySpan(leave, NY)?.[1]).toBe(Date.parse("2026-03-14T04:00:00Z"));
    const training = entry({ start: "2026-03-09T18:00:00Z", end: "2026-03-09T20:00:00Z" });
    expect(entrySpan(training, NY)).toEqual([Date.parse("2026-03-09T18:00:00Z"), Date.parse("2026-03-09T20:00:00Z")]);
    expect(entrySpan(entry({}), NY)).toBeNull();
  });
});

describe("the day grid", () => {
  const split = [...weekdays("08:00", "12:00"), ...weekdays("13:00", "17:00")];
  const late: WorkingBlock[] = [...split.filter((b) => b.day !== "wed"), { day: "wed", start: "12:00", end: "19:00" }];
  const a = practitioner("a", split);
  const b = practitioner("b", late);
  const monday = "2026-03-09"; // 08:00 in New York is 12:00 UTC (summer time)

  it("spans the earliest start to the latest end of that weekday", () => {
    const wednesday = dayGrid("2026-03-11", { practitioners: [a, b], calendar: [], appointments: [], zone: NY });
    expect(wednesday.rows[0]).toBe(8 * 60);
    expect(wednesday.rows[wednesday.rows.length - 1]).toBe(18 * 60 + 45);
    const grid = dayGrid(monday, { practitioners: [a, b], calendar: [], appointments: [], zone: NY });
    expect(grid.rows.length).toBe(36);
    expect(grid.columns.map((c) => c.practitioner.id)).toEqual(["a", "b"]);
  });

  it("falls back to 08:00–18:00 on a day nobody works, every cell off", () => {
    const grid = dayGrid("2026-03-08", { practitioners: [a], calendar: [], appointments: [], zone: NY });
    expect(grid.rows[0]).toBe(480);
    expect(grid.rows.length).toBe(40);
    expect(grid.columns[0].cells.every((c) => c.kind === "off")).toBe(true);
    expect(gridRows([])).toHaveLength(40);
  });

  it("marks free slots in working hours and off hours at lunch, with the UTC start", () => {
    const grid = dayGrid(monday, { practitioners: [a], calendar: [], appointments: [], zone: NY });
    const cells = grid.columns[0].cells;
    expect(cells[0]).toEqual({ kind: "free", minute: 480, start: "2026-03-09T12:00:00Z", label: null });
    expect(cells.filter((c) => c.kind === "off").map((c) => c.minute)).toEqual([720, 735, 750, 765]);
    expect(cells.filter((c) => c.kind === "free")).toHaveLength(32);
  });

  it("places appointments as blocks spanning their quarter hours", () => {
    const appointments = [
      appointment("x", "a", "2026-03-09T12:30:00Z", "2026-03-09T13:00:00Z"), // 08:30–09:00
      appointment("y", "a", "2026-03-09T13:00:00Z", "2026-03-09T13:15:00Z"), // 09:00–09:15
      appointment("z", "b", "2026-03-09T12:00:00Z", "2026-03-09T12:15:00Z"),
    ];
    const grid = dayGrid(monday, { practitioners: [a, b], calendar: [], appointments, zone: NY });
    expect(kinds(grid.columns[0].cells).slice(0, 5)).toEqual(["free", "free", "booked2", "booked1", "free"]);
    const block = grid.columns[0].cells[2];
    expect(block.kind === "booked" && block.items.map((i) => i.appointment.id)).toEqual(["x"]);
    expect(block.start).toBe("2026-03-09T12:30:00Z");
    expect(kinds(grid.columns[1].cells)[0]).toBe("booked1");
    // Every row is accounted for once.
    const rows = (cells: Cell[]) => cells.reduce((n, c) => n + (c.kind === "booked" ? c.span : 1), 0);
    expect(rows(grid.columns[0].cells)).toBe(grid.rows.length);
  });

  it("puts overlapping appointments side by side in one block, and off-grid times inside it", () => {
    const appointments = [
      appointment("x", "a", "2026-03-09T12:00:00Z", "2026-03-09T12:30:00Z"),
      { ...appointment("r", "a", "2026-03-09T12:10:00Z", "2026-03-09T12:40:00Z"), conflict: true },
    ];
    const cells = dayGrid(monday, { practitioners: [a], calendar: [], appointments, zone: NY }).columns[0].cells;
    expect(kinds(cells).slice(0, 2)).toEqual(["booked3", "free"]);
    expect(cells[0].kind === "booked" && cells[0].items.map((i) => i.appointment.id)).toEqual(["x", "r"]);
  });

  it("sets cancelled and missed appointments aside, freeing their slot", () => {
    const appointments = [
      appointment("c", "a", "2026-03-09T12:00:00Z", "2026-03-09T12:15:00Z", { status: "cancelled", cancel_reason: "ill" }),
      appointment("n", "a", "2026-03-09T12:15:00Z", "2026-03-09T12:30:00Z", { status: "no_show" }),
    ];
    const grid = dayGrid(monday, { practitioners: [a], calendar: [], appointments, zone: NY });
    expect(kinds(grid.columns[0].cells).slice(0, 2)).toEqual(["free", "free"]);
    expect(grid.setAside.map((x) => x.appointment.id)).toEqual(["c", "n"]);
  });

  it("widens the rows to show an appointment outside working hours", () => {
    const appointments = [appointment("e", "a", "2026-03-09T11:30:00Z", "2026-03-09T11:45:00Z")]; // 07:30
    const grid = dayGrid(monday, { practitioners: [a], calendar: [], appointments, zone: NY });
    expect(grid.rows[0]).toBe(450);
    expect(kinds(grid.columns[0].cells).slice(0, 3)).toEqual(["booked1", "off", "free"]);
  });

  it("closes cells for the clinic's and the practitioner's closures, labelled once per column", () => {
    const calendar = [
      entry({ kind: "holiday", title: "Clinic holiday", date: monday }),
      entry({ id: "c2", kind: "closure", title: "Annual leave", practitioner_id: "b", date: "2026-03-10", end_date: "2026-03-12" }),
      entry({ id: "c3", kind: "closure", title: "Training", start: "2026-03-13T18:00:00Z", end: "2026-03-13T19:00:00Z" }),
      entry({ id: "c4", kind: "event", title: "Flu vaccination day", date: monday }),
      entry({ id: "c5", kind: "event", title: "Visiting student", practitioner_id: "b", date: monday }),
    ];
    const input = { practitioners: [a, b], calendar, appointments: [], zone: NY };
    const holiday = dayGrid(monday, input);
    for (const column of holiday.columns) {
      expect(column.cells.every((c) => c.kind === "closed")).toBe(true);
      expect(column.cells.filter((c) => c.kind === "closed" && c.label).map((c) => c.kind === "closed" && c.label)).toEqual([
        "Clinic holiday",
      ]);
    }
    expect(holiday.notes).toEqual(["Flu vaccination day"]);
    expect(holiday.columns.map((c) => c.events)).toEqual([[], ["Visiting student"]]);

    const leave = dayGrid("2026-03-11", input);
    expect(leave.columns[0].cells.some((c) => c.kind === "closed")).toBe(false);
    expect(leave.columns[1].cells.every((c) => c.kind === "closed")).toBe(true);

    // Friday 14:00–15:00 New York time.
    const training = dayGrid("2026-03-13", input).columns[0].cells;
    expect(training.filter((c) => c.kind === "closed").map((c) => c.minute)).toEqual([840, 855, 870, 885]);
    expect(training.find((c) => c.kind === "closed" && c.label)?.minute).toBe(840);
  });

  it("shows an inactive practitioner only with appointments, all off", () => {
    const gone = practitioner("g", split, false);
    expect(dayGrid(monday, { practitioners: [a, gone], calendar: [], appointments: [], zone: NY }).columns).toHaveLength(1);
    const appointments = [appointment("x", "g", "2026-03-09T13:00:00Z", "2026-03-09T13:15:00Z")];
    const grid = dayGrid(monday, { practitioners: [a, gone], calendar: [], appointments, zone: NY });
    expect(grid.columns).toHaveLength(2);
    expect(grid.columns[1].cells.some((c) => c.kind === "free")).toBe(false);
  });

  it("counts the free minutes from a slot on", () => {
    const appointments = [appointment("x", "a", "2026-03-09T12:45:00Z", "2026-03-09T13:00:00Z")];
    const cells = dayGrid(monday, { practitioners: [a], calendar: [], appointments, zone: NY }).columns[0].cells;
    expect(freeMinutesFrom(cells, 0)).toBe(45);
    expect(freeMinutesFrom(cells, 3)).toBe(0);
    const noon = cells.findIndex((c) => c.minute === 690);
    expect(freeMinutesFrom(cells, noon)).toBe(30);
  });

  it("keeps the grid on the clock across the change to summer time", () => {
    const sunday = practitioner("s", [{ day: "sun", start: "08:00", end: "09:00" }]);
    const cells = dayGrid("2026-03-08", { practitioners: [sunday], calendar: [], appointments: [], zone: NY }).columns[0].cells;
    expect(cells[0].start).toBe("2026-03-08T12:00:00Z");
    const first = dayGrid("2026-03-01", { practitioners: [sunday], calendar: [], appointments: [], zone: NY }).columns[0].cells;
    expect(first[0].start).toBe("2026-03-01T13:00:00Z");
  });
});

describe("the week grid", () => {
  const a = practitioner("a", [...weekdays("08:00", "12:00"), { day: "wed", start: "12:00", end: "19:00" }]);

  it("has a column per day, Monday to Sunday, rows covering the whole week's hours", () => {
    const appointments = [
      appointment("x", "a", "2026-03-11T16:00:00Z", "2026-03-11T16:30:00Z"), // Wednesday 12:00
      appointment("o", "other", "2026-03-11T12:00:00Z", "2026-03-11T12:15:00Z"),
    ];
    const grid = weekGrid("2026-03-12", a, { practitioners: [a], calendar: [], appointments, zone: NY });
    expect(grid.columns.map((c) => c.date)).toEqual(weekOf("2026-03-12"));
    expect(grid.rows[0]).toBe(480);
    expect(grid.rows[grid.rows.length - 1]).toBe(18 * 60 + 45);
    const wednesday = grid.columns[2].cells;
    expect(wednesday.find((c) => c.kind === "booked")?.start).toBe("2026-03-11T16:00:00Z");
    expect(grid.columns[5].cells.every((c) => c.kind === "off")).toBe(true);
    expect(grid.columns.flatMap((c) => c.cells).filter((c) => c.kind === "booked")).toHaveLength(1);
  });

  it("lists clinic-wide events on their day's column", () => {
    const calendar = [entry({ kind: "event", title: "Flu vaccination day", date: "2026-03-10" })];
    const grid = weekGrid("2026-03-12", a, { practitioners: [a], calendar, appointments: [], zone: NY });
    expect(grid.columns.map((c) => c.events.length)).toEqual([0, 1, 0, 0, 0, 0, 0]);
  });
});

describe("appointments of a patient and their actions", () => {
  it("splits coming (soonest first) from past (latest first)", () => {
    const list = [
      appointment("p1", "a", "2026-03-01T13:00:00Z", "2026-03-01T13:15:00Z"),
      appointment("c2", "a", "2026-03-20T13:00:00Z", "2026-03-20T13:15:00Z"),
      appointment("c1", "a", "2026-03-09T13:00:00Z", "2026-03-09T13:30:00Z"),
      appointment("p2", "a", "2026-03-05T13:00:00Z", "2026-03-05T13:15:00Z"),
    ];
    const { coming, past } = splitByTime(list, new Date("2026-03-09T13:10:00Z"));
    expect(coming.map((a) => a.appointment.id)).toEqual(["c1", "c2"]);
    expect(past.map((a) => a.appointment.id)).toEqual(["p2", "p1"]);
    expect(patientIds([...list, list[0]])).toHaveLength(4);
  });

  it("offers what the status machine allows", () => {
    const booked = appointment("x", "a", "2026-03-09T13:00:00Z", "2026-03-09T13:15:00Z");
    expect(actionsFor(booked)).toEqual({ checkIn: true, move: true, cancel: true });
    const arrived = { ...booked, appointment: { ...booked.appointment, status: "arrived" as const } };
    expect(actionsFor(arrived)).toEqual({ checkIn: false, move: false, cancel: true });
    const done = { ...booked, appointment: { ...booked.appointment, status: "completed" as const } };
    expect(actionsFor(done)).toEqual({ checkIn: false, move: false, cancel: false });
  });

  it("moves keeping the length, and reads the view again after refusals that mean it is stale", () => {
    const moved = movedTimes({ start: "2026-03-09T13:00:00Z", end: "2026-03-09T13:30:00Z" }, "2026-03-10", "14:15", NY);
    expect(moved).toEqual({ start: "2026-03-10T18:15:00Z", end: "2026-03-10T18:45:00Z" });
    expect(movedTimes({ start: "2026-03-09T13:00:00Z", end: "2026-03-09T13:30:00Z" }, "2026-03-10", "", NY)).toBeNull();
    expect(refreshAfter({ code: "slot_taken", message: "", field: null })).toBe(true);
    expect(refreshAfter({ code: "validation_failed", message: "", field: "reason" })).toBe(false);
  });
});
