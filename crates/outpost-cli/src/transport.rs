//! `outpost trip list|show|status`: a crew's trips from the local copy, and their steps taken
//! offline, one at a time, in the words crews use. Times are shown in UTC with the hub's time
//! beside the device's once a step has synced.

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use outpost_client::{Client, LocalTrip, TripStep};
use outpost_domain::TripId;
use outpost_domain::transport::TripStatus;

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

#[derive(Subcommand)]
pub enum TripCommand {
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
        f.patient_name,
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

pub fn trip(client: &mut Client, command: TripCommand, json: bool) -> Result<()> {
    match command {
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
