//! `outpost trip list|show|status`: a crew's trips from the local copy, and their steps taken
//! offline, one at a time, in the words crews use. Times are shown in UTC with the hub's time
//! beside the device's once a step has synced. `outpost trip board|bid|bids|withdraw`: a
//! dispatcher's board and bids, live from the hub (the board has no local copy).

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use uuid::Uuid;

use outpost_client::{BoardQuery, Client, LocalTrip, TripStep};
use outpost_domain::transport::board::{Bid, BoardEntry, BoardFilter, NewBid};
use outpost_domain::transport::{Level, Priority, TripStatus};
use outpost_domain::{TripId, UnitId};

use crate::print;

/// A step a crew takes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Step {
    EnRoute,
    AtPickup,
    Transporting,
    AtDestination,
    Completed,
    Cancelled,
}

impl From<Step> for TripStatus {
    fn from(step: Step) -> Self {
        match step {
            Step::EnRoute => TripStatus::EnRoute,
            Step::AtPickup => TripStatus::AtPickup,
            Step::Transporting => TripStatus::Transporting,
            Step::AtDestination => TripStatus::AtDestination,
            Step::Completed => TripStatus::Completed,
            Step::Cancelled => TripStatus::Cancelled,
        }
    }
}

/// A level of care, as crews write it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LevelArg {
    Bls,
    Als,
    Cct,
}

impl From<LevelArg> for Level {
    fn from(level: LevelArg) -> Self {
        match level {
            LevelArg::Bls => Level::Bls,
            LevelArg::Als => Level::Als,
            LevelArg::Cct => Level::Cct,
        }
    }
}

/// A priority.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PriorityArg {
    Emergent,
    Urgent,
    Scheduled,
}

impl From<PriorityArg> for Priority {
    fn from(priority: PriorityArg) -> Self {
        match priority {
            PriorityArg::Emergent => Priority::Emergent,
            PriorityArg::Urgent => Priority::Urgent,
            PriorityArg::Scheduled => Priority::Scheduled,
        }
    }
}

#[derive(Subcommand)]
pub enum TripCommand {
    /// The transport board as the hub shows it to your agency now (needs the hub): open
    /// requests and those you bid on, in order of pickup.
    Board {
        #[arg(long, value_enum)]
        level: Option<LevelArg>,
        #[arg(long, value_enum)]
        priority: Option<PriorityArg>,
        /// The origin's or the destination's city.
        #[arg(long)]
        city: Option<String>,
        /// Only entries open to bids.
        #[arg(long)]
        open: bool,
        /// Pickup windows opening at or after this time (RFC 3339, e.g. 2026-12-07T08:00:00Z).
        #[arg(long)]
        from: Option<DateTime<Utc>>,
        /// Pickup windows opening before this time (RFC 3339).
        #[arg(long)]
        to: Option<DateTime<Utc>>,
    },
    /// Bid on a board entry with one of your units (needs the hub).
    Bid {
        entry: Uuid,
        /// The unit's call sign or id.
        #[arg(long)]
        unit: String,
        /// Minutes until the unit can be at the pickup.
        #[arg(long)]
        eta: u32,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Your agency's bids on a board entry and where they stand (needs the hub).
    Bids { entry: Uuid },
    /// Withdraw your bid while the entry is open (needs the hub).
    Withdraw { entry: Uuid, bid: Uuid },
    /// The trips on this computer (the crew's own), in order of pickup.
    List,
    /// One trip, with every step and its times.
    Show { id: TripId },
    /// Take the trip's next step (offline too); a cancellation needs a reason.
    Status {
        id: TripId,
        #[arg(value_enum)]
        status: Step,
        #[arg(long)]
        reason: Option<String>,
    },
}

fn line(t: &LocalTrip) -> String {
    let f = &t.trip.fields;
    format!(
        "{}  {:<16}  {} → {}  pickup {}–{}  {}{}{}",
        t.trip.id,
        f.status.crew_label(),
        f.origin,
        f.destination,
        f.pickup_from.format("%Y-%m-%d %H:%M"),
        f.pickup_to.format("%H:%M UTC"),
        f.patient_name.as_deref().unwrap_or("(patient: crew only)"),
        if t.pending { "  (to sync)" } else { "" },
        if t.conflict {
            "  (refused by the hub)"
        } else {
            ""
        },
    )
}

fn step_line(step: &TripStep) -> String {
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("—".to_owned(), |t| {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        })
    };
    format!(
        "  {:<16}  device {}  hub {}",
        step.status.crew_label(),
        at(step.device_time),
        at(step.hub_time)
    )
}

fn entry_line(e: &BoardEntry) -> String {
    format!(
        "{}  {:<3} {:<9}  {}–{}  {} ({}) → {} ({})  {}  {}{}",
        e.id,
        label(&e.level),
        label(&e.priority),
        e.pickup_from.format("%Y-%m-%d %H:%M"),
        e.pickup_to.format("%H:%M UTC"),
        e.origin,
        e.origin_city,
        e.destination,
        e.destination_city,
        e.hospital,
        e.status.as_str(),
        if e.equipment.is_empty() {
            String::new()
        } else {
            format!("  [{}]", e.equipment.join(", "))
        },
    )
}

fn bid_line(b: &Bid) -> String {
    format!(
        "{}  {:<10}  {} ({})  ETA {} min{}",
        b.id,
        b.status.as_str(),
        b.unit,
        label(&b.unit_level),
        b.eta_minutes,
        b.notes
            .as_deref()
            .map(|n| format!("  {n}"))
            .unwrap_or_default()
    )
}

fn label<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// The unit a dispatcher names by call sign (case ignored) or id.
async fn unit_id(client: &mut Client, unit: &str) -> Result<UnitId> {
    if let Ok(id) = unit.parse() {
        return Ok(id);
    }
    client
        .units()
        .await?
        .into_iter()
        .find(|u| u.fields.call_sign.eq_ignore_ascii_case(unit.trim()))
        .map(|u| u.id)
        .ok_or_else(|| anyhow::anyhow!("no unit of your agency has the call sign {unit:?}"))
}

pub async fn trip(client: &mut Client, command: TripCommand, json: bool) -> Result<()> {
    match command {
        TripCommand::Board {
            level,
            priority,
            city,
            open,
            from,
            to,
        } => {
            let query = BoardQuery {
                filter: BoardFilter {
                    level: level.map(Into::into),
                    priority: priority.map(Into::into),
                    city,
                    status: open.then_some(TripStatus::Published),
                    from,
                    to,
                },
                ..BoardQuery::new()
            };
            let entries = client.board(&query).await?.items;
            print(json, &entries, |list| {
                for e in list {
                    println!("{}", entry_line(e));
                }
                println!("{} entries", list.len());
            });
        }
        TripCommand::Bid {
            entry,
            unit,
            eta,
            notes,
        } => {
            let unit_id = unit_id(client, &unit).await?;
            let bid = client
                .bid(
                    entry,
                    &NewBid {
                        unit_id,
                        eta_minutes: eta,
                        notes,
                    },
                )
                .await?;
            print(json, &bid, |b| println!("{}", bid_line(b)));
        }
        TripCommand::Bids { entry } => {
            let bids = client.bids(entry).await?;
            print(json, &bids, |list| {
                for b in list {
                    println!("{}", bid_line(b));
                }
                println!("{} bids", list.len());
            });
        }
        TripCommand::Withdraw { entry, bid } => {
            let bid = client.withdraw_bid(entry, bid).await?;
            print(json, &bid, |b| println!("{}", bid_line(b)));
        }
        TripCommand::List => {
            let trips = client.trips()?;
            print(json, &trips, |list| {
                for t in list {
                    println!("{}", line(t));
                }
                println!("{} trips", list.len());
            });
        }
        TripCommand::Show { id } => {
            let (trip, steps) = client.trip(id)?;
            print(json, &json!({"trip": trip, "steps": steps}), |_| {
                println!("{}", line(&trip));
                let f = &trip.trip.fields;
                println!(
                    "  {:?} for {}, {:?} priority; {}",
                    f.level,
                    f.hospital,
                    f.priority,
                    f.reason.as_deref().unwrap_or("no reason given")
                );
                for step in &steps {
                    println!("{}", step_line(step));
                }
            });
        }
        TripCommand::Status { id, status, reason } => {
            let trip = client.set_trip_status(id, status.into(), reason.as_deref())?;
            print(json, &trip, |t| {
                println!(
                    "{}: {} (sync to send it)",
                    t.id,
                    t.fields.status.crew_label()
                )
            });
        }
    }
    Ok(())
}
