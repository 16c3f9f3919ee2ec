// The transport board as each role works it: what a tenant may do on the board (bid, accept,
// publish, read the report), which units may bid on an entry, and the report's numbers as
// the charts draw them. The hub decides again; this only picks what the screens offer.
import type { Bid } from "../bindings/Bid";
import type { BoardEntry } from "../bindings/BoardEntry";
import type { Level } from "../bindings/Level";
import type { LocalUnit } from "../bindings/LocalUnit";
import type { Mobility } from "../bindings/Mobility";
import type { Priority } from "../bindings/Priority";
import type { Profile } from "../bindings/Profile";
import type { TransportReport } from "../bindings/TransportReport";
import type { TransportRequestFields } from "../bindings/TransportRequestFields";
import type { TripStatus } from "../bindings/TripStatus";
import type { Unit } from "../bindings/Unit";
import type { UnitStatus } from "../bindings/UnitStatus";
import { onShift } from "./shifts";
import { LINE, clockTime } from "./trips";

/** What the signed-in user does on the board. */
export type BoardRole = "dispatcher" | "hospital" | "center" | null;

export function boardRole(profile: Profile | null): BoardRole {
  if (!profile || !profile.permissions.includes("board.read")) return null;
  if (profile.tenant_kind === "transport_center") return "center";
  if (profile.permissions.includes("trip.bid")) return "dispatcher";
  if (profile.tenant_kind === "hospital") return "hospital";
  return null;
}

const RANK: Record<Level, number> = { BLS: 0, ALS: 1, CCT: 2 };

/**
 * Units that may bid on `entry`: in service, of its level or above; those on shift in its
 * pickup window first (else in call-sign order), each with whether it is.
 */
export function biddingUnits(units: LocalUnit[], entry: BoardEntry): { unit: Unit; onShift: boolean }[] {
  return units
    .filter(({ unit: u }) => u.status !== "out_of_service" && RANK[u.level] >= RANK[entry.level])
    .map(({ unit, shifts }) => ({ unit, onShift: onShift(shifts, entry.pickup_from, entry.pickup_to) }))
    .sort((a, b) => Number(b.onShift) - Number(a.onShift));
}

/** The agency's live bid on the entry, if any (one at a time). */
export function liveBid(bids: Bid[]): Bid | null {
  return bids.find((b) => b.status === "submitted") ?? null;
}

/** Bids side by side for the hospital: the soonest first, withdrawn ones last. */
export function ranked(bids: Bid[]): Bid[] {
  const live = (b: Bid) => (b.status === "withdrawn" ? 1 : 0);
  return [...bids].sort((a, b) => live(a) - live(b) || a.eta_minutes - b.eta_minutes);
}

/** A pickup window as "Dec 6, 14:00–16:00". */
export function windowText(from: string, to: string): string {
  const day = new Date(from).toLocaleDateString([], { month: "short", day: "numeric" });
  return `${day}, ${clockTime(from)}–${clockTime(to)}`;
}

/** The share of on-time pickups, as a whole percentage, or null without pickups. */
export function onTimeShare(report: TransportReport): number | null {
  const all = report.on_time + report.late;
  return all === 0 ? null : Math.round((100 * report.on_time) / all);
}

/** The day-by-day series of the report, as the stacked bar chart takes them. */
export function daySeries(report: TransportReport): {
  labels: string[];
  completed: number[];
  running: number[];
  cancelled: number[];
  open: number[];
} {
  const days = report.days;
  return {
    labels: days.map((d) => d.date.slice(5)),
    completed: days.map((d) => d.completed),
    running: days.map((d) => d.assigned),
    cancelled: days.map((d) => d.cancelled),
    open: days.map((d) => d.published - d.completed - d.assigned - d.cancelled),
  };
}

/** The report's period: the 30 days up to the end of today, in UTC. */
export function lastMonth(now: Date): { from: string; to: string } {
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
  const start = new Date(end.getTime() - 30 * 24 * 3600 * 1000);
  return { from: start.toISOString(), to: end.toISOString() };
}

/** What a hospital coordinator fills in for a new transport request. */
export interface RequestForm {
  patientId: string | null;
  origin: string;
  destination: string;
  level: Level;
  priority: Priority;
  /** The window's opening, as a `datetime-local` input gives it (the computer's time). */
  pickupFrom: string;
  /** How long the window stays open. */
  windowHours: number;
  /** Comma-separated. */
  equipment: string;
  isolation: string;
  mobility: Mobility | "";
  reason: string;
  notes: string;
}

/** A refusal of the form, naming the field to fix. */
export interface FormError {
  field: keyof RequestForm;
  message: string;
}

/**
 * The request's fields from the form, or what to fix first. The core and the hub check again
 * (lengths, labels, the window's limits); this catches what the form can say plainly.
 */
export function requestFields(form: RequestForm): TransportRequestFields | FormError {
  if (!form.patientId) return { field: "patientId", message: "Find and choose the patient first." };
  if (!form.origin) return { field: "origin", message: "Choose where the patient is picked up." };
  if (!form.destination) return { field: "destination", message: "Choose where the patient goes." };
  if (form.origin === form.destination) {
    return { field: "destination", message: "The destination must differ from the pickup." };
  }
  const from = Date.parse(form.pickupFrom);
  if (Number.isNaN(from)) return { field: "pickupFrom", message: "Give the pickup window's start." };
  const hours = Number(form.windowHours);
  if (!(hours > 0 && hours <= 168)) {
    return { field: "windowHours", message: "The window lasts between 1 and 168 hours." };
  }
  const text = (value: string) => value.trim() || null;
  return {
    patient_id: form.patientId,
    origin_facility_id: form.origin,
    destination_facility_id: form.destination,
    level: form.level,
    priority: form.priority,
    pickup_from: new Date(from).toISOString(),
    pickup_to: new Date(from + hours * 3_600_000).toISOString(),
    equipment: form.equipment
      .split(",")
      .map((e) => e.trim())
      .filter((e) => e !== ""),
    isolation: text(form.isolation),
    mobility: form.mobility || null,
    weight_class: null,
    reason: text(form.reason),
    notes: text(form.notes),
    status: "draft",
    cancel_reason: null,
    board_entry_id: null,
    assigned_agency: null,
    assigned_unit: null,
  };
}

/** A `datetime-local` input's value (the computer's time) as an instant; null when empty. */
export function instant(local: string): string | null {
  const ms = Date.parse(local);
  return local && !Number.isNaN(ms) ? new Date(ms).toISOString() : null;
}

/** The next whole hour after `now`, as a `datetime-local` input takes it. */
export function nextHour(now: Date): string {
  const next = new Date(now.getTime());
  next.setMinutes(0, 0, 0);
  next.setHours(next.getHours() + 1);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${next.getFullYear()}-${pad(next.getMonth() + 1)}-${pad(next.getDate())}T${pad(next.getHours())}:00`;
}

/** The board's status filter: every status an entry can have once published. */
export const BOARD_STATUSES: TripStatus[] = [...LINE.slice(1), "cancelled"];

/** A unit's status as a dispatcher says it. */
export function unitStatusLabel(status: UnitStatus): string {
  return { available: "in service", assigned: "on a trip", out_of_service: "out of service" }[status];
}
