// The transport board as each role works it: what a tenant may do on the board (bid, accept,
// publish, read the report), which units may bid on an entry, and the report's numbers as
// the charts draw them. The hub decides again; this only picks what the screens offer.
import type { Bid } from "../bindings/Bid";
import type { BoardEntry } from "../bindings/BoardEntry";
import type { Level } from "../bindings/Level";
import type { Profile } from "../bindings/Profile";
import type { TransportReport } from "../bindings/TransportReport";
import type { Unit } from "../bindings/Unit";

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

/** Units that may bid on `entry`: in service, of its level or above. */
export function biddingUnits(units: Unit[], entry: BoardEntry): Unit[] {
  return units.filter((u) => u.status !== "out_of_service" && RANK[u.level] >= RANK[entry.level]);
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
  const start = new Date(from);
  const end = new Date(to);
  const day = start.toLocaleDateString([], { month: "short", day: "numeric" });
  const time = (d: Date) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return `${day}, ${time(start)}–${time(end)}`;
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
