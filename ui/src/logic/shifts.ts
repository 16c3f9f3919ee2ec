// A unit's shifts as a dispatcher reads and plans them: who is on duty now or at a pickup,
// and the form's local date and times as the instants the core takes. Times are this
// computer's local ones (an agency's laptops run in its own time zone). The core and the hub
// decide again (a unit's planned shifts never overlap).
import type { LocalShift } from "../bindings/LocalShift";
import type { ShiftFields } from "../bindings/ShiftFields";

const HOUR_MS = 3_600_000;
/** The longest shift, in hours (as the core's rule: a 24-hour shift over the night the clocks go back). */
export const MAX_HOURS = 25;

/** The shifts that stand: planned, and not refused by the hub. */
const standing = (shifts: LocalShift[]) => shifts.filter((s) => s.shift.status === "planned" && !s.conflict);

/** Whether a standing shift among `shifts` reaches into `from..to` (ISO instants). */
export function onShift(shifts: LocalShift[], from: string, to: string): boolean {
  const [start, end] = [Date.parse(from), Date.parse(to)];
  return standing(shifts).some(({ shift }) => Date.parse(shift.start) < end && Date.parse(shift.end) > start);
}

const clock = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const day = (ms: number) => new Date(ms).toLocaleDateString([], { weekday: "short", month: "short", day: "numeric" });
const sameDay = (a: number, b: number) => new Date(a).toDateString() === new Date(b).toDateString();
/** A time as "19:00" on the day of `now`, else with its day. */
const when = (ms: number, now: number) => (sameDay(ms, now) ? clock(ms) : `${day(ms)} ${clock(ms)}`);

/** Where a unit stands at `now` by its shifts (planned ones, in start order). */
export function shiftStanding(shifts: LocalShift[], now: number): { on: boolean; text: string } {
  const planned = standing(shifts);
  const current = planned.find(({ shift }) => Date.parse(shift.start) <= now && Date.parse(shift.end) > now);
  if (current) return { on: true, text: `on shift until ${when(Date.parse(current.shift.end), now)}` };
  const next = planned.find(({ shift }) => Date.parse(shift.start) > now);
  if (next) return { on: false, text: `off shift · next ${when(Date.parse(next.shift.start), now)}` };
  return { on: false, text: "no shift planned" };
}

/** A shift as "Tue, Dec 8 07:00 – 19:00" (the end's day too when it is another). */
export function shiftText(shift: { start: string; end: string }): string {
  const [start, end] = [Date.parse(shift.start), Date.parse(shift.end)];
  return `${day(start)} ${clock(start)} – ${when(end, start)}`;
}

/** The local day after `now`'s, as a date input takes it (by the calendar, whatever the clocks do). */
export function dayAfter(now: Date): string {
  const next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${next.getFullYear()}-${pad(next.getMonth() + 1)}-${pad(next.getDate())}`;
}

/** The shift form as the dispatcher fills it: a day and two clock times (local). */
export interface ShiftForm {
  unitId: string;
  /** `YYYY-MM-DD`. */
  date: string;
  /** `HH:MM`. */
  start: string;
  /** `HH:MM`; at or before the start, the next day (a night shift). */
  end: string;
  notes: string;
}

/** The instant of local `date` (plus `days`) at clock `time`, or NaN. */
function local(date: string, time: string, days = 0): number {
  const [y, m, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  if (![y, m, d, hh, mm].every(Number.isInteger)) return Number.NaN;
  return new Date(y, m - 1, d + days, hh, mm).getTime();
}

/** The shift the form describes, or why it cannot be one. */
export function shiftFields(form: ShiftForm): ShiftFields | string {
  const start = local(form.date, form.start);
  let end = local(form.date, form.end);
  if (!form.unitId) return "Choose the unit.";
  if (Number.isNaN(start) || Number.isNaN(end)) return "Give the day, the start and the end.";
  if (end <= start) end = local(form.date, form.end, 1);
  if (end - start > MAX_HOURS * HOUR_MS) return `A shift lasts at most ${MAX_HOURS} hours.`;
  const notes = form.notes.trim();
  return {
    unit_id: form.unitId,
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    status: "planned",
    ...(notes ? { notes } : {}),
  };
}
