// A unit's shifts as a dispatcher reads and plans them: who is on duty now or at a pickup,
// and the form's local date and times as the instants the core takes. Times are this
// computer's local ones (an agency's laptops run in its own time zone). The core and the hub
// decide again (a unit's planned shifts never overlap).
import type { LocalShift } from "../bindings/LocalShift";
import type { ShiftFields } from "../bindings/ShiftFields";
import { addDays, clockMinutes, todayIn, toUtc } from "./schedule";
import { clockTime } from "./trips";

const HOUR_MS = 3_600_000;
/** This computer's time zone, in which the dispatcher reads and writes shifts. */
const here = () => Intl.DateTimeFormat().resolvedOptions().timeZone;
/** The longest shift, in hours (as the core's rule: a 24-hour shift over the night the clocks go back). */
export const MAX_HOURS = 25;

/** The shifts that stand: planned, and not refused by the hub. */
const standing = (shifts: LocalShift[]) => shifts.filter((s) => s.shift.status === "planned" && !s.conflict);

/** Whether a standing shift among `shifts` reaches into `from..to` (ISO instants). */
export function onShift(shifts: LocalShift[], from: string, to: string): boolean {
  const [start, end] = [Date.parse(from), Date.parse(to)];
  return standing(shifts).some(({ shift }) => Date.parse(shift.start) < end && Date.parse(shift.end) > start);
}

const day = (ms: number) => new Date(ms).toLocaleDateString([], { weekday: "short", month: "short", day: "numeric" });
const sameDay = (a: number, b: number) => new Date(a).toDateString() === new Date(b).toDateString();
/** A time as "19:00" on the day of `now`, else with its day. */
const when = (ms: number, now: number) => {
  const clock = clockTime(new Date(ms).toISOString());
  return sameDay(ms, now) ? clock : `${day(ms)} ${clock}`;
};

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
  return `${day(start)} ${clockTime(shift.start)} – ${when(end, start)}`;
}

/** The local day after `now`'s, as a date input takes it (by the calendar, whatever the clocks do). */
export function dayAfter(now: Date): string {
  return addDays(todayIn(here(), now), 1);
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

/** The shift the form describes, or why it cannot be one. */
export function shiftFields(form: ShiftForm): ShiftFields | string {
  if (!form.unitId) return "Choose the unit.";
  const missing = "Give the day, the start and the end.";
  const start = toUtc(form.date, form.start, here());
  const to = clockMinutes(form.end);
  if (start === null || to === null) return missing;
  // A valid start has a clock time; an end at or before it is the next day's.
  const overnight = to <= (clockMinutes(form.start) ?? 0);
  const end = toUtc(overnight ? addDays(form.date, 1) : form.date, form.end, here());
  if (end === null) return missing;
  const [startMs, endMs] = [Date.parse(start), Date.parse(end)];
  if (endMs - startMs > MAX_HOURS * HOUR_MS) return `A shift lasts at most ${MAX_HOURS} hours.`;
  const notes = form.notes.trim();
  return {
    unit_id: form.unitId,
    start: new Date(startMs).toISOString(),
    end: new Date(endMs).toISOString(),
    status: "planned",
    ...(notes ? { notes } : {}),
  };
}
