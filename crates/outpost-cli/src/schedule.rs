//! `outpost appointment …` and `outpost practitioner list`: the clinic's day from the local
//! copy, and bookings made, moved, checked in and cancelled offline. Days and times given
//! without a zone are the clinic's local time (its practitioners' zone).

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use clap::Subcommand;
use serde_json::json;

use outpost_client::{Client, LocalAppointment};
use outpost_domain::schedule::appointment::{Appointment, AppointmentFields, AppointmentStatus};
use outpost_domain::schedule::booking;
use outpost_domain::schedule::practitioner::Practitioner;
use outpost_domain::{AppointmentId, Entity, PatientId, PractitionerId};

use crate::print;

#[derive(Subcommand)]
pub enum AppointmentCommand {
    /// A day's appointments, of every practitioner or one.
    List {
        /// YYYY-MM-DD (the clinic's local day; default today).
        #[arg(long)]
        day: Option<NaiveDate>,
        #[arg(long)]
        practitioner: Option<PractitionerId>,
    },
    /// Book a patient with a practitioner.
    Book {
        #[arg(long)]
        patient: PatientId,
        #[arg(long)]
        practitioner: PractitionerId,
        /// YYYY-MM-DDTHH:MM (the clinic's local time) or an RFC 3339 time.
        #[arg(long)]
        start: String,
        #[arg(long, default_value_t = 15)]
        minutes: i64,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Move an appointment (a booking the hub refused is moved and sent again).
    Move {
        id: AppointmentId,
        #[arg(long)]
        start: String,
        /// The new length (default: the appointment's own).
        #[arg(long)]
        minutes: Option<i64>,
        /// Another practitioner.
        #[arg(long)]
        practitioner: Option<PractitionerId>,
    },
    /// Cancel an appointment with a reason (a booking the hub refused is discarded).
    Cancel {
        id: AppointmentId,
        #[arg(long)]
        reason: String,
    },
    /// Check the patient in.
    CheckIn { id: AppointmentId },
}

#[derive(Subcommand)]
pub enum PractitionerCommand {
    /// Every practitioner, with their specialty and weekly hours.
    List,
}

/// The clinic's zone: its practitioners' (UTC when the copy has none).
fn zone(practitioners: &[Practitioner]) -> Tz {
    practitioners
        .first()
        .and_then(|p| p.fields.time_zone.parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

/// A time given on the command line: RFC 3339, or the clinic's local `YYYY-MM-DDTHH:MM`.
fn time(text: &str, zone: Tz) -> Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .with_context(|| format!("`{text}` is not YYYY-MM-DDTHH:MM nor an RFC 3339 time"))?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("`{text}` does not exist in {zone} (a clock change)"))
}

fn local_time(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%H:%M").to_string()
}

pub fn appointment(client: &mut Client, command: AppointmentCommand, json: bool) -> Result<()> {
    let practitioners = client.practitioners()?;
    let zone = zone(&practitioners);
    match command {
        AppointmentCommand::List { day, practitioner } => {
            let day = day.unwrap_or_else(|| Utc::now().with_timezone(&zone).date_naive());
            let start_of = |day| {
                booking::local_midnight(day, zone).with_context(|| format!("no {day} in {zone}"))
            };
            let (from, to) = (start_of(day)?, start_of(day + Duration::days(1))?);
            let found = client.appointments(from, to, practitioner)?;
            let names: std::collections::BTreeMap<PractitionerId, String> = practitioners
                .into_iter()
                .map(|p| (p.id, p.fields.name))
                .collect();
            print(json, &found, |list| {
                for LocalAppointment {
                    appointment: a,
                    pending,
                    conflict,
                } in list
                {
                    let f = &a.fields;
                    println!(
                        "{}–{}  {:<28}  {:<11}  {}  {}{}{}",
                        local_time(f.start, zone),
                        local_time(f.end, zone),
                        names.get(&f.practitioner_id).map_or("?", String::as_str),
                        f.status.as_str(),
                        a.id,
                        f.reason.as_deref().unwrap_or(""),
                        if *pending { "  (to sync)" } else { "" },
                        if *conflict {
                            "  (refused by the hub: move or cancel it)"
                        } else {
                            ""
                        },
                    );
                }
                println!("{} appointments on {day}", list.len());
            });
        }
        AppointmentCommand::Book {
            patient,
            practitioner,
            start,
            minutes,
            reason,
        } => {
            let start = time(&start, zone)?;
            if !(1..=720).contains(&minutes) {
                bail!("an appointment lasts 1 to 720 minutes");
            }
            let booked = client.book(AppointmentFields {
                patient_id: patient,
                practitioner_id: practitioner,
                start,
                end: start + Duration::minutes(minutes),
                reason,
                notes: None,
                status: AppointmentStatus::Booked,
                cancel_reason: None,
            })?;
            print(json, &booked, |a| {
                println!(
                    "Booked {} at {} (sync to send it)",
                    a.id,
                    local_time(a.fields.start, zone)
                )
            });
        }
        AppointmentCommand::Move {
            id,
            start,
            minutes,
            practitioner,
        } => {
            let start = time(&start, zone)?;
            let length = match minutes {
                Some(minutes) => Duration::minutes(minutes),
                None => {
                    let current: Appointment = client
                        .record(Entity::Appointment, id.into())?
                        .record
                        .to_typed()
                        .context("the appointment does not read")?;
                    current.fields.end - current.fields.start
                }
            };
            let moved = client.move_appointment(id, start, start + length, practitioner)?;
            print(json, &moved, |a| {
                println!(
                    "Moved to {} (sync to send it)",
                    local_time(a.fields.start, zone)
                )
            });
        }
        AppointmentCommand::Cancel { id, reason } => {
            let cancelled = client.cancel_appointment(id, &reason)?;
            let value = json!({ "cancelled": id, "discarded": cancelled.is_none() });
            print(json, &value, |_| match cancelled {
                Some(_) => println!("Cancelled (sync to send it)"),
                None => println!("Discarded: the hub never had this booking"),
            });
        }
        AppointmentCommand::CheckIn { id } => {
            let arrived = client.check_in(id)?;
            print(json, &arrived, |_| println!("Checked in (sync to send it)"));
        }
    }
    Ok(())
}

pub fn practitioner(client: &mut Client, command: PractitionerCommand, json: bool) -> Result<()> {
    match command {
        PractitionerCommand::List => {
            let all = client.practitioners()?;
            print(json, &all, |list| {
                for p in list {
                    let hours: Vec<String> = p
                        .fields
                        .working_hours
                        .iter()
                        .map(|b| format!("{:?} {}–{}", b.day, b.start, b.end).to_lowercase())
                        .collect();
                    println!(
                        "{}  {:<30} {:<20} {}{}",
                        p.id,
                        p.fields.name,
                        p.fields.specialty.as_deref().unwrap_or(""),
                        hours.join(", "),
                        if p.fields.active { "" } else { "  (inactive)" }
                    );
                }
            });
        }
    }
    Ok(())
}
