// A crew's trip, one step at a time: the step after the current one, and each step in the
// words crews use (NEMSIS v3.5 times). The hub and the core decide again; this only picks
// what the big button offers.
import type { TripStatus } from "../bindings/TripStatus";

/** The steps in order; `cancelled` is off the line. */
export const LINE: TripStatus[] = [
  "draft",
  "published",
  "assigned",
  "en_route",
  "at_pickup",
  "transporting",
  "at_destination",
  "completed",
];

const LABELS: Record<TripStatus, string> = {
  draft: "Draft",
  published: "On the board",
  assigned: "Unit notified",
  en_route: "En route",
  at_pickup: "At patient",
  transporting: "Left scene",
  at_destination: "At destination",
  completed: "Transfer of care",
  cancelled: "Cancelled",
};

/** The step as a crew names it. */
export function crewLabel(status: TripStatus): string {
  return LABELS[status];
}

/** The crew's next step from `status`, or null when the trip is over (or not yet theirs). */
export function nextStep(status: TripStatus): TripStatus | null {
  if (status === "draft" || status === "published" || status === "cancelled") return null;
  const at = LINE.indexOf(status);
  return at >= 0 && at + 1 < LINE.length ? LINE[at + 1] : null;
}

/** Whether the crew may still cancel the trip. */
export function cancellable(status: TripStatus): boolean {
  return status !== "completed" && status !== "cancelled";
}

/** A time as the crew reads it: the local clock's hours and minutes, or a dash. */
export function clockTime(at: string | null): string {
  if (!at) return "—";
  const d = new Date(at);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
