//! The demo clinic's schedule: six practitioners with weekday hours, a few holidays and a
//! practitioner's week of leave, and three months of appointments around today (those past
//! completed, missed or cancelled, those coming booked). Generated as plain records and ops,
//! then written through the store's own sync path, so every rule and audit applies.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use outpost_domain::audit::Actor;
use outpost_domain::record::to_map;
use outpost_domain::schedule::appointment::AppointmentFields;
use outpost_domain::schedule::booking;
use outpost_domain::schedule::calendar::{CalendarEntryFields, EntryKind};
use outpost_domain::schedule::practitioner::{Day, PractitionerFields, WorkingBlock};
use outpost_domain::sync::{Op, OpAction, OpRules, OpStatus, SCHEMA_VERSION};
use outpost_domain::{Entity, ErrorCode, OpId, PatientId, Permission, PractitionerId, RecordId};
use outpost_store::TenantStore;

use crate::error::ApiError;

/// The demo clinics' time zone.
pub const TIME_ZONE: &str = "America/New_York";
/// Days of appointments before and after today.
const DAYS_BACK: i64 = 45;
const DAYS_AHEAD: i64 = 45;
/// The share of a practitioner's quarter hours that are booked.
const BOOKED_PERCENT: u32 = 30;

const PRACTITIONERS: &[(&str, &str)] = &[
    ("Dr. Dana Reyes", "Family medicine"),
    ("Dr. Omar Haddad", "Internal medicine"),
    ("Dr. Mei Chen", "Paediatrics"),
    ("Dr. Samuel Okafor", "Cardiology"),
    ("Nurse practitioner Lena Brandt", "Primary care"),
    ("Dr. Priya Natarajan", "Neurology"),
];

const REASONS: &[&str] = &[
    "check-up",
    "follow-up",
    "blood pressure review",
    "vaccination",
    "lab results",
    "new symptoms",
    "medication review",
];

/// A booking with the status changes that follow it.
pub type Booking = (RecordId, AppointmentFields, Vec<Map<String, Value>>);

/// What the demo writes for one clinic.
pub struct Plan {
    pub practitioners: Vec<(PractitionerId, PractitionerFields)>,
    pub calendar: Vec<CalendarEntryFields>,
    /// Bookings in order, each with the status changes that follow it.
    pub appointments: Vec<Booking>,
}

fn hours(rng: &mut StdRng) -> Vec<WorkingBlock> {
    let block = |day, start: &str, end: &str| WorkingBlock {
        day,
        start: start.into(),
        end: end.into(),
    };
    let mut blocks = Vec::new();
    let late = rng.gen_bool(0.5);
    for day in [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri] {
        if day == Day::Wed && late {
            blocks.push(block(day, "12:00", "19:00"));
            continue;
        }
        blocks.push(block(day, "08:00", "12:00"));
        blocks.push(block(day, "13:00", "17:00"));
    }
    blocks
}

/// The next weekday on or after `date`.
fn weekday_from(mut date: NaiveDate) -> NaiveDate {
    while matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        date += Duration::days(1);
    }
    date
}

/// The clinic's schedule around `today`, for `patients`: the same slots and statuses for the
/// same `seed` (the records' ids are new each time).
pub fn plan(seed: u64, today: NaiveDate, patients: &[PatientId]) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let zone: Tz = TIME_ZONE.parse().unwrap_or(chrono_tz::UTC);
    let practitioners: Vec<(PractitionerId, PractitionerFields)> = PRACTITIONERS
        .iter()
        .map(|(name, specialty)| {
            (
                PractitionerId::generate(),
                PractitionerFields {
                    name: (*name).into(),
                    specialty: Some((*specialty).into()),
                    active: true,
                    working_hours: hours(&mut rng),
                    time_zone: TIME_ZONE.into(),
                    user_id: None,
                },
            )
        })
        .collect();
    let entry = |kind, title: &str, practitioner, date: NaiveDate, end_date| CalendarEntryFields {
        kind,
        title: title.into(),
        practitioner_id: practitioner,
        date: Some(date),
        end_date,
        start: None,
        end: None,
    };
    let leave = weekday_from(today + Duration::days(14));
    let calendar = vec![
        entry(
            EntryKind::Holiday,
            "Clinic holiday",
            None,
            weekday_from(today - Duration::days(20)),
            None,
        ),
        entry(
            EntryKind::Holiday,
            "Clinic holiday",
            None,
            weekday_from(today + Duration::days(30)),
            None,
        ),
        entry(
            EntryKind::Closure,
            "Staff training",
            None,
            weekday_from(today + Duration::days(9)),
            None,
        ),
        entry(
            EntryKind::Event,
            "Flu vaccination day",
            None,
            weekday_from(today + Duration::days(3)),
            None,
        ),
        entry(
            EntryKind::Closure,
            "Annual leave",
            practitioners.get(2).map(|p| p.0),
            leave,
            Some(leave + Duration::days(4)),
        ),
    ];
    let now = zone
        .from_local_datetime(&today.and_hms_opt(12, 0, 0).unwrap_or_default())
        .earliest()
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let mut appointments = Vec::new();
    for offset in -DAYS_BACK..=DAYS_AHEAD {
        let day = today + Duration::days(offset);
        for (practitioner, fields) in &practitioners {
            for block in fields
                .working_hours
                .iter()
                .filter(|b| b.day == Day::from(day.weekday()))
            {
                let Some((open, close)) = block.minutes() else {
                    continue;
                };
                for minute in (open..close).step_by(15) {
                    if rng.gen_range(0..100) >= BOOKED_PERCENT || patients.is_empty() {
                        continue;
                    }
                    let Some(start) = local(zone, day, minute) else {
                        continue;
                    };
                    let length = if rng.gen_bool(0.2) && minute + 30 <= close {
                        30
                    } else {
                        15
                    };
                    let fields = AppointmentFields {
                        patient_id: patients[rng.gen_range(0..patients.len())],
                        practitioner_id: *practitioner,
                        start,
                        end: start + Duration::minutes(length),
                        reason: Some(REASONS[rng.gen_range(0..REASONS.len())].into()),
                        notes: None,
                        status: Default::default(),
                        cancel_reason: None,
                    };
                    if booking::check(&fields, fields_of(&practitioners, practitioner), &calendar)
                        .is_err()
                        || overlaps(&appointments, &fields)
                    {
                        continue;
                    }
                    let steps = if start < now {
                        past_steps(&mut rng)
                    } else {
                        Vec::new()
                    };
                    appointments.push((RecordId::generate(), fields, steps));
                }
            }
        }
    }
    Plan {
        practitioners,
        calendar,
        appointments,
    }
}

fn fields_of<'a>(
    practitioners: &'a [(PractitionerId, PractitionerFields)],
    id: &PractitionerId,
) -> &'a PractitionerFields {
    &practitioners
        .iter()
        .find(|(p, _)| p == id)
        .unwrap_or(&practitioners[0])
        .1
}

fn overlaps(booked: &[Booking], fields: &AppointmentFields) -> bool {
    booked.iter().rev().take(64).any(|(_, other, _)| {
        other.practitioner_id == fields.practitioner_id
            && other.start < fields.end
            && fields.start < other.end
    })
}

/// `minute` minutes after local midnight of `day`, in UTC.
fn local(zone: Tz, day: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
    let naive = day.and_hms_opt(minute / 60, minute % 60, 0)?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// What happened to a past appointment: mostly completed, some missed, a few cancelled.
fn past_steps(rng: &mut StdRng) -> Vec<Map<String, Value>> {
    let step = |value: Value| value.as_object().cloned().unwrap_or_default();
    match rng.gen_range(0..100) {
        0..=84 => vec![
            step(json!({"status": "arrived"})),
            step(json!({"status": "in_progress"})),
            step(json!({"status": "completed"})),
        ],
        85..=94 => vec![step(json!({"status": "no_show"}))],
        _ => vec![step(
            json!({"status": "cancelled", "cancel_reason": "patient called to cancel"}),
        )],
    }
}

/// Writes the plan through the store's sync path (ops in batches), as `actor`.
pub async fn store(db: &dyn TenantStore, plan: Plan, actor: &Actor) -> Result<usize, ApiError> {
    let practitioners = plan
        .practitioners
        .iter()
        .map(|(id, fields)| ((*id).into(), to_map(fields)))
        .collect();
    db.create_records(Entity::Practitioner, practitioners, actor)
        .await?;
    let calendar = plan
        .calendar
        .iter()
        .map(|fields| (RecordId::generate(), to_map(fields)))
        .collect();
    db.create_records(Entity::CalendarEntry, calendar, actor)
        .await?;
    let op = |id: RecordId, action, base: Option<i64>, fields| Op {
        op_id: OpId::generate(),
        entity: Entity::Appointment,
        record_id: id,
        action,
        base_version: base,
        fields,
        client_time: actor.at,
        schema_version: SCHEMA_VERSION,
    };
    let mut ops = Vec::new();
    for (id, fields, steps) in &plan.appointments {
        ops.push(op(*id, OpAction::Create, None, to_map(fields)));
        for (n, step) in steps.iter().enumerate() {
            ops.push(op(*id, OpAction::Update, Some(n as i64 + 1), step.clone()));
        }
    }
    let rules = OpRules {
        permissions: [Permission::AppointmentRead, Permission::AppointmentWrite].into(),
        user: None,
        today: actor.at.date_naive(),
    };
    for chunk in ops.chunks(5000) {
        let results = db.apply_ops(chunk.to_vec(), rules.clone(), actor).await?;
        // The plan keeps every rule: a refusal is a bug in it, not something to skip.
        if let Some(refused) = results
            .iter()
            .find(|r| !matches!(r.status, OpStatus::Applied | OpStatus::Merged))
        {
            let why = refused
                .error
                .as_ref()
                .map_or("a conflict", |e| e.code.as_str());
            return Err(ApiError::new(
                ErrorCode::Internal,
                format!("the demo schedule was refused: {why}"),
            ));
        }
    }
    Ok(plan.appointments.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_keeps_every_rule_of_the_schedule() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).expect("date");
        let patients: Vec<PatientId> = (0..50).map(|_| PatientId::generate()).collect();
        let plan = plan(7, today, &patients);
        assert_eq!(plan.practitioners.len(), 6);
        assert!(
            plan.appointments.len() > 1000,
            "{}",
            plan.appointments.len()
        );
        for (_, fields, steps) in &plan.appointments {
            let practitioner = fields_of(&plan.practitioners, &fields.practitioner_id);
            assert!(booking::check(fields, practitioner, &plan.calendar).is_ok());
            let past = fields.start.date_naive() < today;
            assert!(
                past || steps.is_empty(),
                "a coming appointment stays booked"
            );
        }
        let booked: Vec<_> = plan.appointments.iter().map(|(_, f, _)| f).collect();
        for (i, a) in booked.iter().enumerate() {
            for b in &booked[i + 1..] {
                assert!(
                    a.practitioner_id != b.practitioner_id || a.end <= b.start || b.end <= a.start,
                    "no overlap"
                );
            }
        }
    }
}
