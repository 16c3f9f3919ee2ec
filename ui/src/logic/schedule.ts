// The clinic's schedule as the screens show it, with no I/O: the clinic's local days and clock
// times (in its time zone, through the browser's Intl) and the UTC instants the core speaks;
// the grid of quarter hours for a day of every practitioner or a week of one, with each cell
// free, off hours, closed or holding appointments; and a patient's appointments split into
// coming and past.
import type { CalendarEntry } from "../bindings/CalendarEntry";
import type { Day } from "../bindings/Day";
import type { IpcError } from "../bindings/IpcError";
import type { LocalAppointment } from "../bindings/LocalAppointment";
import type { Practitioner } from "../bindings/Practitioner";

/** A local day of the clinic, `YYYY-MM-DD`. */
export type LocalDate = string;

/** Minutes in one row of the grid. */
export const QUARTER = 15;
/** The most rows one cell spans (a whole day); style.css has a `span-N` class for each. */
export const MAX_SPAN = 96;
/** The grid's hours when nobody works that day. */
export const FALLBACK_HOURS: [number, number] = [8 * 60, 18 * 60];
/** What the booking dialog offers, in minutes. */
export const DURATIONS = [15, 30, 45, 60];

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** Day names in the order of `Date.getUTCDay()`. */
const WEEKDAYS: Day[] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const wallFormats = new Map<string, Intl.DateTimeFormat>();

/** Reads an instant's wall clock in a zone (one formatter per zone, made once). */
function wallFormat(zone: string): Intl.DateTimeFormat {
  let format = wallFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    wallFormats.set(zone, format);
  }
  return format;
}

/** The wall clock of instant `ms` in `zone`, as the UTC milliseconds of those same fields. */
function wallMs(ms: number, zone: string): number {
  const parts = wallFormat(zone).formatToParts(new Date(ms));
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return Date.UTC(part("year"), part("month") - 1, part("day"), part("hour") % 24, part("minute"), part("second"));
}

/** How far `zone`'s clock is ahead of UTC at instant `ms`, in milliseconds. */
function offsetMs(ms: number, zone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  return wallMs(whole, zone) - whole;
}

function dateParts(date: LocalDate): [number, number, number] {
  const [y, m, d] = date.split("-").map(Number);
  return [y, m, d];
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** An instant as the core writes it: `2026-03-09T13:00:00Z` (whole seconds). */
export function utcIso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `HH:MM` as minutes after midnight (`24:00` is 1440); null when it is not a clock time. */
export function clockMinutes(text: string): number | null {
  const match = /^(\d{2}):(\d{2})$/.exec(text);
  if (!match) return null;
  const [hours, minutes] = [Number(match[1]), Number(match[2])];
  if (hours === 24 && minutes === 0) return 24 * 60;
  return hours < 24 && minutes < 60 ? hours * 60 + minutes : null;
}

/** Minutes after midnight as `HH:MM`. */
export function clockText(minutes: number): string {
  return `${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

/**
 * The instant when the clock in `zone` shows `minutes` after midnight of `date`. A time the
 * clock shows twice (the hour repeated when summer time ends) is its first; a time it skips
 * (the hour lost when summer time starts) is read with the offset before the jump, so it lands
 * as far after the jump as it was after the last minute before it (02:30 becomes 03:30).
 */
export function localToUtcMs(date: LocalDate, minutes: number, zone: string): number {
  const [y, m, d] = dateParts(date);
  const wall = Date.UTC(y, m - 1, d) + minutes * MINUTE_MS;
  const before = offsetMs(wall - DAY_MS, zone);
  const after = offsetMs(wall + DAY_MS, zone);
  const fits = [wall - before, wall - after].filter((at) => offsetMs(at, zone) === wall - at);
  return fits.length > 0 ? Math.min(...fits) : wall - before;
}

/** `date` at clock time `time` (`HH:MM`) in `zone`, as a UTC ISO string; null for a bad time. */
export function toUtc(date: LocalDate, time: string, zone: string): string | null {
  const minutes = clockMinutes(time);
  if (minutes === null || !/^\d{4}-\d{2}-\d{2}$/.test(date)) return null;
  return utcIso(localToUtcMs(date, minutes, zone));
}

/** Where an instant falls in `zone`: the local day, the clock time, and its minutes after midnight. */
export interface LocalTime {
  date: LocalDate;
  time: string;
  minutes: number;
}

/** An instant (ISO string or milliseconds) read on the clock of `zone`. */
export function toLocal(at: string | number, zone: string): LocalTime {
  const ms = typeof at === "number" ? at : Date.parse(at);
  const wall = new Date(wallMs(ms, zone));
  const minutes = wall.getUTCHours() * 60 + wall.getUTCMinutes();
  return {
    date: `${wall.getUTCFullYear()}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())}`,
    time: clockText(minutes),
    minutes,
  };
}

/** The local day `days` after `date` (before, when negative). */
export function addDays(date: LocalDate, days: number): LocalDate {
  const [y, m, d] = dateParts(date);
  return new Date(Date.UTC(y, m - 1, d) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Which day of the week `date` is. */
export function weekdayOf(date: LocalDate): Day {
  const [y, m, d] = dateParts(date);
  return WEEKDAYS[new Date(Date.UTC(y, m - 1, d)).getUTCDay()];
}

/** The seven days, Monday to Sunday, of the week holding `date`. */
export function weekOf(date: LocalDate): LocalDate[] {
  const monday = addDays(date, -((WEEKDAYS.indexOf(weekdayOf(date)) + 6) % 7));
  return Array.from({ length: 7 }, (_, i) => addDays(monday, i));
}

/** The clinic's day at instant `now`. */
export function todayIn(zone: string, now: Date): LocalDate {
  return toLocal(now.getTime(), zone).date;
}

/** The clinic's time zone: the practitioners' (they all share the tenant's); UTC without any. */
export function clinicZone(practitioners: Practitioner[]): string {
  return practitioners[0]?.time_zone || "UTC";
}

/** The UTC range `[from, to)` of local days `first` to `last` (inclusive), for the `appointments` command. */
export function daysRange(first: LocalDate, last: LocalDate, zone: string): { from: string; to: string } {
  return {
    from: utcIso(localToUtcMs(first, 0, zone)),
    to: utcIso(localToUtcMs(addDays(last, 1), 0, zone)),
  };
}

const dayFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  weekday: "long",
  year: "numeric",
  month: "long",
  day: "numeric",
});
const shortDayFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  weekday: "short",
  month: "short",
  day: "numeric",
});

const mediumDayFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  weekday: "short",
  year: "numeric",
  month: "short",
  day: "numeric",
});

function dateAsUtc(date: LocalDate): Date {
  const [y, m, d] = dateParts(date);
  return new Date(Date.UTC(y, m - 1, d));
}

/** "Monday, March 9, 2026". */
export function dayTitle(date: LocalDate): string {
  return dayFormat.format(dateAsUtc(date));
}

/** "Mon, Mar 9". */
export function shortDay(date: LocalDate): string {
  return shortDayFormat.format(dateAsUtc(date));
}

/** "Mon, Mar 9, 2026". */
export function mediumDay(date: LocalDate): string {
  return mediumDayFormat.format(dateAsUtc(date));
}

/** "Mon, Mar 9 – Sun, Mar 15, 2026" for the week of `days`. */
export function weekTitle(days: LocalDate[]): string {
  const last = days[days.length - 1];
  return `${shortDay(days[0])} – ${shortDay(last)}, ${last.slice(0, 4)}`;
}

/** An appointment's day and times on the clinic's clock: "Mon, Mar 9", "09:15–09:30". */
export function appointmentWhen(start: string, end: string, zone: string): { day: LocalDate; label: string; times: string } {
  const from = toLocal(start, zone);
  return { day: from.date, label: shortDay(from.date), times: `${from.time}–${toLocal(end, zone).time}` };
}

/** Whether an appointment keeps its slot (cancelled and missed ones free it, as on the hub). */
export function holdsSlot(entry: LocalAppointment): boolean {
  return entry.appointment.status !== "cancelled" && entry.appointment.status !== "no_show";
}

/** Whether a calendar entry refuses bookings (closures and holidays; events do not). */
export function closes(entry: CalendarEntry): boolean {
  return entry.kind === "closure" || entry.kind === "holiday";
}

/** Whether an entry concerns a practitioner: it is theirs or the whole clinic's. */
function concerns(entry: CalendarEntry, practitionerId: string): boolean {
  return !entry.practitioner_id || entry.practitioner_id === practitionerId;
}

/** The UTC span `[from, to)` in milliseconds an entry covers: its time range, or its local days. */
export function entrySpan(entry: CalendarEntry, zone: string): [number, number] | null {
  if (entry.date) {
    const last = entry.end_date ?? entry.date;
    return [localToUtcMs(entry.date, 0, zone), localToUtcMs(addDays(last, 1), 0, zone)];
  }
  if (entry.start && entry.end) return [Date.parse(entry.start), Date.parse(entry.end)];
  return null;
}

/** One row of a column: a free slot, off hours, a closure, or the appointments starting there. */
export type Cell =
  | {
      kind: "free" | "off" | "closed";
      /** Minutes after local midnight. */
      minute: number;
      /** The UTC instant the row starts. */
      start: string;
      /** On the first closed cell of a column: the titles of what closes it. */
      label: string | null;
    }
  | {
      kind: "booked";
      minute: number;
      start: string;
      /** How many rows the appointments cover. */
      span: number;
      /** The appointments shown here, in order of start (side by side when they overlap). */
      items: LocalAppointment[];
    };

/** One column of the grid: a practitioner on a day. */
export interface Column {
  key: string;
  practitioner: Practitioner;
  date: LocalDate;
  /** Events (which do not close) of the day for this column. */
  events: string[];
  cells: Cell[];
}

/** A grid: its rows (minutes after local midnight), its columns, and what it leaves out. */
export interface Grid {
  rows: number[];
  columns: Column[];
  /** Clinic-wide events of the day (day view; the week view shows them per column). */
  notes: string[];
  /** Cancelled and missed appointments: they hold no slot, so they are listed, not placed. */
  setAside: LocalAppointment[];
}

/** The practitioner's working blocks of a weekday, in minutes. */
function blocksOf(practitioner: Practitioner, day: Day): [number, number][] {
  const blocks: [number, number][] = [];
  for (const block of practitioner.working_hours) {
    const open = clockMinutes(block.start);
    const close = clockMinutes(block.end);
    if (block.day === day && open !== null && close !== null && open < close) blocks.push([open, close]);
  }
  return blocks;
}

/**
 * The rows, one per quarter hour, covering every span given (minutes after local midnight),
 * widened to whole quarters; 08:00–18:00 when there is none.
 */
export function gridRows(spans: [number, number][]): number[] {
  const [first, last] =
    spans.length > 0 ? [Math.min(...spans.map((s) => s[0])), Math.max(...spans.map((s) => s[1]))] : FALLBACK_HOURS;
  const from = Math.max(0, Math.floor(first / QUARTER) * QUARTER);
  const to = Math.min(24 * 60, Math.max(from + QUARTER, Math.ceil(last / QUARTER) * QUARTER));
  const rows: number[] = [];
  for (let minute = from; minute < to; minute += QUARTER) rows.push(minute);
  return rows;
}

/** Where an appointment falls on the clinic's clock: its day and its minutes after that midnight. */
function placeOf(entry: LocalAppointment, zone: string): { date: LocalDate; from: number; to: number } {
  const start = toLocal(entry.appointment.start, zone);
  const minutes = Math.max(1, Math.round((Date.parse(entry.appointment.end) - Date.parse(entry.appointment.start)) / MINUTE_MS));
  return { date: start.date, from: start.minutes, to: start.minutes + minutes };
}

/** What a column is built from. */
interface ColumnInput {
  practitioner: Practitioner;
  date: LocalDate;
  rows: number[];
  /** The UTC milliseconds of each row's start on `date`. */
  starts: number[];
  zone: string;
  calendar: CalendarEntry[];
  /** The appointments placed in this column (holding their slot, or refused), in order of start. */
  appointments: LocalAppointment[];
  /** Whether the column lists the clinic-wide events too. */
  clinicEvents: boolean;
}

function buildColumn(input: ColumnInput): Column {
  const { practitioner, date, rows, starts, zone } = input;
  const first = rows[0];
  const blocks = practitioner.active ? blocksOf(practitioner, weekdayOf(date)) : [];
  const entries = input.calendar
    .filter((entry) => concerns(entry, practitioner.id))
    .map((entry) => ({ entry, span: entrySpan(entry, zone) }))
    .filter((e): e is { entry: CalendarEntry; span: [number, number] } => e.span !== null);
  const closing = entries.filter((e) => closes(e.entry));
  const [dayStart, dayEnd] = [localToUtcMs(date, 0, zone), localToUtcMs(addDays(date, 1), 0, zone)];
  const events = entries
    .filter((e) => e.entry.kind === "event" && (input.clinicEvents || e.entry.practitioner_id))
    .filter((e) => e.span[0] < dayEnd && dayStart < e.span[1])
    .map((e) => e.entry.title);

  // Appointments grouped by the rows they cover: overlapping ones share one block.
  const groups = new Map<number, { end: number; items: LocalAppointment[] }>();
  let open: { start: number; end: number; items: LocalAppointment[] } | null = null;
  for (const entry of input.appointments) {
    const place = placeOf(entry, zone);
    const from = Math.min(rows.length - 1, Math.max(0, Math.floor((place.from - first) / QUARTER)));
    const to = Math.min(rows.length, Math.max(from + 1, Math.ceil((place.to - first) / QUARTER)));
    if (open && from < open.end) {
      open.end = Math.max(open.end, to);
      open.items.push(entry);
    } else {
      open = { start: from, end: to, items: [entry] };
      groups.set(from, open);
    }
  }

  const cells: Cell[] = [];
  let labelled = false;
  for (let row = 0; row < rows.length; row++) {
    const minute = rows[row];
    const start = utcIso(starts[row]);
    const group = groups.get(row);
    if (group) {
      const span = Math.min(MAX_SPAN, group.end - row);
      cells.push({ kind: "booked", minute, start, span, items: group.items });
      row += span - 1;
      continue;
    }
    const [from, to] = [starts[row], starts[row] + QUARTER * MINUTE_MS];
    const closedBy = closing.filter((e) => e.span[0] < to && from < e.span[1]);
    if (closedBy.length > 0) {
      const label = labelled ? null : closedBy.map((e) => e.entry.title).join(" · ");
      labelled = true;
      cells.push({ kind: "closed", minute, start, label });
    } else if (blocks.some(([o, c]) => o <= minute && minute + QUARTER <= c)) {
      cells.push({ kind: "free", minute, start, label: null });
    } else {
      cells.push({ kind: "off", minute, start, label: null });
    }
  }
  return { key: `${practitioner.id}/${date}`, practitioner, date, events, cells };
}

/** The row starts of `date`, in UTC milliseconds. */
function rowStarts(date: LocalDate, rows: number[], zone: string): number[] {
  return rows.map((minute) => localToUtcMs(date, minute, zone));
}

/** What a grid is built from: what the `practitioners`, `calendar` and `appointments` commands answered. */
export interface GridInput {
  practitioners: Practitioner[];
  calendar: CalendarEntry[];
  appointments: LocalAppointment[];
  zone: string;
}

/** The clock spans of the appointments that start on `days`. */
function extents(appointments: LocalAppointment[], days: LocalDate[], zone: string): [number, number][] {
  return appointments
    .map((a) => placeOf(a, zone))
    .filter((place) => days.includes(place.date))
    .map((place): [number, number] => [place.from, place.to]);
}

/** Splits appointments into those placed on the grid and those set aside (no slot held). */
function sortOut(appointments: LocalAppointment[]): { placed: LocalAppointment[]; setAside: LocalAppointment[] } {
  const sorted = [...appointments].sort((a, b) => Date.parse(a.appointment.start) - Date.parse(b.appointment.start));
  // A refused booking stays on the grid whatever it says: the user must move or cancel it.
  const placed = sorted.filter((a) => holdsSlot(a) || a.conflict);
  return { placed, setAside: sorted.filter((a) => !placed.includes(a)) };
}

/**
 * The day view: a column per active practitioner (and per inactive one with appointments that
 * day), rows from the earliest start to the latest end of that weekday's working hours.
 */
export function dayGrid(date: LocalDate, input: GridInput): Grid {
  const { zone } = input;
  const { placed, setAside } = sortOut(input.appointments);
  const mine = (p: Practitioner) => placed.filter((a) => a.appointment.practitioner_id === p.id && placeOf(a, zone).date === date);
  const shown = input.practitioners.filter((p) => p.active || mine(p).length > 0);
  const hours = shown.flatMap((p) => blocksOf(p, weekdayOf(date)));
  const rows = gridRows([...(hours.length > 0 ? hours : [FALLBACK_HOURS]), ...extents(placed, [date], zone)]);
  const starts = rowStarts(date, rows, zone);
  const columns = shown.map((practitioner) =>
    buildColumn({
      practitioner,
      date,
      rows,
      starts,
      zone,
      calendar: input.calendar,
      appointments: mine(practitioner),
      clinicEvents: false,
    }),
  );
  const [dayStart, dayEnd] = [localToUtcMs(date, 0, zone), localToUtcMs(addDays(date, 1), 0, zone)];
  const notes = input.calendar
    .filter((e) => e.kind === "event" && !e.practitioner_id)
    .filter((e) => {
      const span = entrySpan(e, zone);
      return span !== null && span[0] < dayEnd && dayStart < span[1];
    })
    .map((e) => e.title);
  return { rows, columns, notes, setAside };
}

/** The week view: one practitioner, a column per day from Monday to Sunday of `date`'s week. */
export function weekGrid(date: LocalDate, practitioner: Practitioner, input: GridInput): Grid {
  const { zone } = input;
  const days = weekOf(date);
  const { placed, setAside } = sortOut(input.appointments.filter((a) => a.appointment.practitioner_id === practitioner.id));
  const hours = practitioner.active ? days.flatMap((d) => blocksOf(practitioner, weekdayOf(d))) : [];
  const rows = gridRows([...(hours.length > 0 ? hours : [FALLBACK_HOURS]), ...extents(placed, days, zone)]);
  const columns = days.map((day) =>
    buildColumn({
      practitioner,
      date: day,
      rows,
      starts: rowStarts(day, rows, zone),
      zone,
      calendar: input.calendar,
      appointments: placed.filter((a) => placeOf(a, zone).date === day),
      clinicEvents: true,
    }),
  );
  return { rows, columns, notes: [], setAside };
}

/** How many minutes are free from cell `index` of a column on (for the booking's length). */
export function freeMinutesFrom(cells: Cell[], index: number): number {
  let minutes = 0;
  for (let i = index; i < cells.length && cells[i].kind === "free"; i++) minutes += QUARTER;
  return minutes;
}

/** The distinct patients of some appointments, in order of first appearance. */
export function patientIds(appointments: LocalAppointment[]): string[] {
  return [...new Set(appointments.map((a) => a.appointment.patient_id))];
}

/** A patient's appointments: those not yet over (soonest first), and past ones (latest first). */
export function splitByTime(
  appointments: LocalAppointment[],
  now: Date,
): { coming: LocalAppointment[]; past: LocalAppointment[] } {
  const at = (a: LocalAppointment) => Date.parse(a.appointment.start);
  const coming = appointments.filter((a) => Date.parse(a.appointment.end) > now.getTime()).sort((a, b) => at(a) - at(b));
  const past = appointments.filter((a) => !coming.includes(a)).sort((a, b) => at(b) - at(a));
  return { coming, past };
}

/** What the user may do with an appointment, by its status (the hub's status machine). */
export function actionsFor(entry: LocalAppointment): { checkIn: boolean; move: boolean; cancel: boolean } {
  const status = entry.appointment.status;
  return { checkIn: status === "booked", move: status === "booked", cancel: status === "booked" || status === "arrived" };
}

/** An appointment's status in words. */
export function statusLabel(status: string): string {
  return status.replace(/_/g, " ");
}

/**
 * Whether the view should be read again after the core refused a change: the refusal says the
 * mirror knows something the view does not show yet (the slot was taken, hours or the calendar
 * changed, the appointment moved on).
 */
export function refreshAfter(err: IpcError): boolean {
  return ["slot_taken", "outside_working_hours", "clinic_closed", "invalid_transition", "not_found", "version_conflict"].includes(
    err.code,
  );
}

/** A new start for an appointment moved to `date` at `time` in `zone`, keeping its length. */
export function movedTimes(
  appointment: { start: string; end: string },
  date: LocalDate,
  time: string,
  zone: string,
): { start: string; end: string } | null {
  const start = toUtc(date, time, zone);
  if (start === null) return null;
  const length = Date.parse(appointment.end) - Date.parse(appointment.start);
  return { start, end: utcIso(Date.parse(start) + length) };
}
